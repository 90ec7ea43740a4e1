"""The broker restarts (its queue lost) while runs are mid-step: the Celery workers stay up,
reconnect, and the sweeper re-sends what was lost; every run completes, each step stored once."""

import time
from pathlib import Path

import pytest

from controlplane.celery import app as celery_app
from controlplane.engine.backends import backend
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import CeleryWorker, use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import send
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)
# More runs than the two workers have threads (8 each): when the broker goes, some steps are
# running inside the app and the other runs' messages wait in the workers' prefetch buffers.
RUNS = 24


@pytest.fixture(scope="module")
def slow_app(app_env):
    app = python_app(
        {**app_env, "APP_ID": "py-broker-restart", "APP_SLOW_SECONDS": "2"},
        script="engine_app.py",
    ).start()
    yield app
    app.stop()


@pytest.fixture
def env(world, slow_app):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=slow_app.url, actor=world.owner)
    assert sync.status == "success"
    return world.prod_a


def use_broker(url: str) -> None:
    """Point this process's Celery app (what publishes the test's events) at `url`: its
    producer pool keeps the connections of the broker it first published to."""
    celery_app.conf.broker_url = url
    celery_app.close()
    celery_app.amqp._producer_pool = None


@pytest.fixture
def celery_on(redis_server, settings):
    """The Celery backend with `redis_server` as broker, channel layer and cache, as in a
    deployment with one Redis; two workers."""
    previous = celery_app.conf.broker_url
    use_broker(redis_server.url)
    settings.CELERY_TASK_DEFAULT_QUEUE = ENGINE_ENV["CELERY_QUEUE"]
    settings.EXECUTOR_BACKEND = "celery"
    backend.cache_clear()
    env = {**ENGINE_ENV, "REDIS_URL": redis_server.url}
    env.pop("METRICS_WORKER_LISTEN")  # one port, two workers
    workers = [CeleryWorker(redis_server.url, env).start() for _ in range(2)]
    yield workers
    for worker in workers:
        worker.stop()
    backend.cache_clear()
    use_broker(previous)


def _wait_for_holds(logs: list[Path], count: int, timeout: float = 20) -> None:
    """Until `count` of the runs' steps are running inside the app."""
    deadline = time.monotonic() + timeout
    while sum(log.exists() for log in logs) < count:
        assert time.monotonic() < deadline, "the steps did not start"
        time.sleep(0.05)


def test_workers_survive_a_broker_restart_and_finish_the_runs_in_flight(
    env, celery_on, redis_server, app_env
):
    runs = [Run.objects.get(events=send(env, "engine/slow", {"n": n})) for n in range(RUNS)]
    state = Path(app_env["APP_STATE_DIR"])
    _wait_for_holds([state / f"slow-{run.public_id}.log" for run in runs], RUNS // 2)
    # The steps return while Redis is away or just back; the queued messages and those in the
    # workers' buffers are lost with it.
    redis_server.restart()
    runs = [wait_for_run(run, timeout=45) for run in runs]
    assert all(worker.running for worker in celery_on)
    assert [run.status for run in runs] == [RunStatus.COMPLETED] * RUNS, [r.error for r in runs]
    assert {run.output for run in runs} == {"held"}
    for run in runs:
        assert Step.objects.filter(run=run, name="hold").count() == 1
        assert run.history.filter(kind=HistoryKind.STEP_COMPLETED).count() == 1
    # The workers consume from the new broker, not only what the sweeper re-sent.
    event = send(env, "engine/chain", {"n": 1})
    after = wait_for_run(lambda: Run.objects.filter(events=event).first())
    assert after.status == RunStatus.COMPLETED and all(worker.running for worker in celery_on)
