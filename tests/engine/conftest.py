"""Engine tests run against real SDK apps, parametrized over both executor backends."""

import os

import pytest

from controlplane.celery import app as celery_app
from controlplane.engine.backends import backend
from tests.engine.harness import EVENT_KEY, SIGNING_KEY, CeleryWorker, celery_broker_url
from tests.live import free_port

# The Celery worker serves its own Prometheus metrics here (tests/engine/test_observability.py).
WORKER_METRICS_PORT = free_port()

# A queue of this test session's own: other test sessions may share the Redis broker.
QUEUE = f"engine-tests-{os.getpid()}"

ENGINE_ENV = {
    "CELERY_QUEUE": QUEUE,
    "RETRY_BACKOFF_SCALE": "0.01",
    "JOB_LEASE_SECONDS": "3",
    "JOB_REPUBLISH_SECONDS": "3",
    "ENGINE_POLL_SECONDS": "0.2",
    "MAX_REQUEST_BYTES": "65536",
    # Bounds a call to a test app that hangs (seen under heavy load): retried, not waited 5 min.
    "SDK_CALL_TIMEOUT_SECONDS": "30",
    "METRICS_WORKER_LISTEN": f"127.0.0.1:{WORKER_METRICS_PORT}",
}


@pytest.fixture(autouse=True)
def _fast_engine(settings):
    settings.RETRY_BACKOFF_SCALE = 0.01
    settings.JOB_LEASE_SECONDS = 3
    settings.JOB_REPUBLISH_SECONDS = 3
    settings.ENGINE_POLL_SECONDS = 0.2
    settings.MAX_REQUEST_BYTES = 65536
    settings.SDK_CALL_TIMEOUT_SECONDS = 30


@pytest.fixture
def celery_worker(transactional_db):
    """A worker of this test's own: one left running would claim the next test's jobs, whatever
    its backend, and hold locks while the database is flushed between tests."""
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("the Celery backend tests need Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    worker = CeleryWorker(broker, ENGINE_ENV).start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_publisher(settings):
    """This process sends jobs (the events a test sends) to the test workers' broker and queue;
    the test starts the worker that runs them. Yields the broker's URL."""
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("the Celery backend tests need Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
    settings.EXECUTOR_BACKEND = "celery"
    backend.cache_clear()
    yield broker
    backend.cache_clear()


@pytest.fixture(params=["local", "celery"])
def engine(request, settings, transactional_db):
    """The executor backend under test, running for the duration of one test."""
    settings.EXECUTOR_BACKEND = request.param
    settings.CELERY_TASK_DEFAULT_QUEUE = QUEUE
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
