"""A busy Celery worker holds no more PostgreSQL connections than the README's formula counts
for it (DB_POOL_SIZE), however many threads it runs: each thread once kept a connection of its
own for the whole job, the app call included."""

import pytest
from django.db import connection

from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus
from tests.connections import connections_held
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import (
    CeleryWorker,
    database_url,
    use_event_key,
    use_signing_key,
    wait_for_run,
)
from tests.engine.test_python_sdk import send
from tests.sdk_apps.processes import python_app

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]
POOL_SIZE = 10  # DB_POOL_SIZE's default
THREADS, RUNS = 16, 32


@pytest.fixture(scope="module")
def slow_app(app_env):
    app = python_app(
        {**app_env, "APP_ID": "py-connections", "APP_SLOW_SECONDS": "1"}, script="engine_app.py"
    ).start()
    yield app
    app.stop()


@pytest.fixture
def env(world, slow_app):
    if connection.vendor != "postgresql":
        pytest.skip("counts connections in PostgreSQL's pg_stat_activity")
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=slow_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def test_a_worker_with_more_threads_than_its_pool_holds_only_the_pool(env, celery_publisher):
    worker = CeleryWorker(celery_publisher, ENGINE_ENV, concurrency=THREADS).start()
    try:
        with connections_held(database_url(), [worker.hostname]) as peak:
            events = [send(env, "engine/slow", {"n": n}) for n in range(RUNS)]
            runs = [
                wait_for_run(lambda e=e: Run.objects.filter(events=e).first(), timeout=90)
                for e in events
            ]
    finally:
        worker.stop()
    held = peak[worker.hostname]
    print(f"{RUNS} runs on {THREADS} threads, {held} connections at most")
    assert [run.status for run in runs] == [RunStatus.COMPLETED] * RUNS
    assert 0 < held <= POOL_SIZE
