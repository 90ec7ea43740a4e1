"""Engine tests run against real SDK apps, parametrized over both executor backends."""

import pytest

from controlplane.celery import app as celery_app
from controlplane.engine.backends import backend
from tests.engine.harness import EVENT_KEY, SIGNING_KEY, CeleryWorker, celery_broker_url

ENGINE_ENV = {
    "RETRY_BACKOFF_SCALE": "0.01",
    "JOB_LEASE_SECONDS": "3",
    "JOB_REPUBLISH_SECONDS": "3",
    "ENGINE_POLL_SECONDS": "0.2",
    "MAX_REQUEST_BYTES": "65536",
}


@pytest.fixture(autouse=True)
def _fast_engine(settings):
    settings.RETRY_BACKOFF_SCALE = 0.01
    settings.JOB_LEASE_SECONDS = 3
    settings.JOB_REPUBLISH_SECONDS = 3
    settings.ENGINE_POLL_SECONDS = 0.2
    settings.MAX_REQUEST_BYTES = 65536


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("the Celery backend tests need Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    with django_db_blocker.unblock():
        worker = CeleryWorker(broker, ENGINE_ENV).start()
    yield worker
    worker.stop()


@pytest.fixture(params=["local", "celery"])
def engine(request, settings, transactional_db):
    """The executor backend under test, running for the duration of one test."""
    settings.EXECUTOR_BACKEND = request.param
    backend.cache_clear()
    if request.param == "celery":
        request.getfixturevalue("celery_worker")
    running = backend()
    running.start()
    yield request.param
    running.stop()
    backend.cache_clear()


@pytest.fixture(scope="module")
def app_env(live_server_url, tmp_path_factory):
    """How an SDK app of these tests is configured: cloud mode, pointed at the live server."""
    return {
        "INNGEST_DEV": "0",
        "INNGEST_SIGNING_KEY": SIGNING_KEY,
        "INNGEST_EVENT_KEY": EVENT_KEY,
        "INNGEST_BASE_URL": live_server_url,
        "APP_STATE_DIR": str(tmp_path_factory.mktemp("app-state")),
    }
