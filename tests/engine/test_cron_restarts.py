"""Cron across scheduler restarts, on real processes: a Celery worker, celery beat killed with
kill -9 and started again, the live server and a real Python SDK app."""

import time
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from controlplane.celery import app as celery_app
from controlplane.engine.backends import backend
from controlplane.engine.cron import FIRE_CRON_TASK
from controlplane.registry.models import FunctionTrigger
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Job, Run
from tests.bulk.conftest import make_runs
from tests.engine.conftest import ENGINE_ENV, QUEUE
from tests.engine.harness import CeleryWorker, celery_broker_url, use_signing_key, wait_for_run
from tests.sdk_apps.processes import python_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.celery, pytest.mark.chaos]
APP = "py-cron"
MINUTE = timedelta(minutes=1)
# A worker that sweeps and re-sends lost messages only once a minute: a run that starts within
# seconds was sent by its own message, not rescued by the safety net.
UNSWEPT = {**ENGINE_ENV, "ENGINE_POLL_SECONDS": "60", "JOB_REPUBLISH_SECONDS": "60"}


@pytest.fixture(scope="module")
def py_app(app_env):
    app = python_app({**app_env, "APP_ID": APP}, script="engine_app.py").start()
    yield app
    app.stop()


@pytest.fixture
def worker(settings):
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("needs Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    settings.EXECUTOR_BACKEND, settings.CELERY_TASK_DEFAULT_QUEUE = "celery", QUEUE
    backend.cache_clear()
    worker = CeleryWorker(broker, UNSWEPT).start()
    yield worker
    worker.stop()
    backend.cache_clear()


def fires_done(worker: CeleryWorker) -> int:
    """How many cron fires the worker has finished (accepted, and no longer executing)."""
    inspect = celery_app.control.inspect([worker.hostname], timeout=2)
    accepted = (inspect.stats() or {}).get(worker.hostname, {}).get("total", {})
    active = (inspect.active() or {}).get(worker.hostname, [])
    return accepted.get(FIRE_CRON_TASK, 0) - sum(t["name"] == FIRE_CRON_TASK for t in active)


def wait_for_fires(worker: CeleryWorker, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while fires_done(worker) < count:
        assert time.monotonic() < deadline, f"beat did not fire {count} times"
        time.sleep(0.2)


def scheduled_minutes(trigger: FunctionTrigger) -> list[datetime]:
    runs = Run.objects.filter(function=trigger.function).select_related("event")
    return sorted(datetime.fromisoformat(run.event.data["scheduledAt"]) for run in runs)


def test_each_minute_fires_once_at_once_across_beat_restarts(world, py_app, worker):
    use_signing_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    trigger = FunctionTrigger.objects.get(function__slug=f"{APP}-minutely")
    # Beat has been down for three minutes: neither its row nor the trigger has fired since.
    since = trigger.cron_next_at - 3 * MINUTE
    FunctionTrigger.objects.filter(pk=trigger.pk).update(cron_next_at=since)
    beat_row = PeriodicTask.objects.filter(pk=trigger.periodic_task_id)
    beat_row.update(last_run_at=since - MINUTE)
    # Meanwhile another run's timer came due, before any sweep sent it a message: whichever
    # message claims it, the cron runs still start at once.
    [napped] = make_runs(
        sync.app.functions.get(slug=f"{APP}-chain"),
        1,
        name="engine/chain",
        start_at=timezone.now() + timedelta(hours=1),
    )
    due = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(run=napped).update(available_at=due, sort_at=due)

    beat = CeleryWorker(worker.broker, UNSWEPT, beat=True).start()
    try:
        wait_for_fires(worker, 1)
        caught_up = scheduled_minutes(trigger)
        assert caught_up[:3] == [since, since + MINUTE, since + 2 * MINUTE]
        for run in Run.objects.filter(function=trigger.function):
            started = wait_for_run(run, timeout=20).started_at
            assert started - run.event.received_at < timedelta(seconds=10)
        # Beat dies before it stores its last fire, so the next beat fires again at once.
        beat.kill()
        beat_row.update(last_run_at=since - MINUTE)
        beat = CeleryWorker(worker.broker, UNSWEPT, beat=True).start()
        wait_for_fires(worker, 2)
    finally:
        beat.kill()
    minutes = scheduled_minutes(trigger)
    assert minutes == [since + n * MINUTE for n in range(len(minutes))]  # none twice, none missed
    assert minutes[: len(caught_up)] == caught_up
    assert wait_for_run(napped).status == "completed"


def test_a_due_cron_time_fires_from_the_workers_sweep_without_beat(world, py_app, settings):
    """Beat's message waits in the queue behind any backlog (a fire seen 57 s late): a worker's
    sweep fires a due time itself. No beat runs here."""
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("needs Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    settings.EXECUTOR_BACKEND, settings.CELERY_TASK_DEFAULT_QUEUE = "celery", QUEUE
    backend.cache_clear()
    use_signing_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    trigger = FunctionTrigger.objects.get(function__slug=f"{APP}-minutely")
    due = trigger.cron_next_at - 2 * MINUTE
    FunctionTrigger.objects.filter(pk=trigger.pk).update(cron_next_at=due)
    worker = CeleryWorker(broker, ENGINE_ENV).start()  # sweeps every ENGINE_POLL_SECONDS
    try:
        deadline = time.monotonic() + 20
        while len(scheduled_minutes(trigger)) < 2:
            assert time.monotonic() < deadline, "the sweep fired no cron time"
            time.sleep(0.2)
        assert scheduled_minutes(trigger) == [due, due + MINUTE]
        for run in Run.objects.filter(function=trigger.function):
            assert wait_for_run(run, timeout=20).status == "completed"
    finally:
        worker.stop()
        backend.cache_clear()
