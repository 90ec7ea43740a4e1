"""Bulk cancel and bulk replay of a real SDK app's runs, on both executor backends: the engine's
own periodic loop (local: the server's timer thread; Celery: the worker's sweeper) advances them.

Runs to replay are made failed directly, so only the replays call the app, at their pace."""

import time
from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from controlplane.bulk.models import BulkAction, BulkStatus
from controlplane.bulk.services import bulk_action_create, bulk_action_stop, run_filter_build
from controlplane.engine.settle import events_accept
from controlplane.runs.models import Job, Run, RunStatus
from tests.bulk.conftest import make_runs
from tests.engine import test_python_sdk as sdk
from tests.engine.harness import wait_for_run
from tests.engine.test_python_sdk import APP, send

pytestmark = pytest.mark.django_db(transaction=True)
py_app, env = sdk.py_app, sdk.env


def start_runs(environment, name: str, count: int) -> None:
    """Runs started the way events start them: the engine calls the app at once."""
    events_accept(
        environment=environment,
        payloads=[{"name": name, "data": {"i": i}} for i in range(count)],
        source="api",
    )


def start(function, kind: str, since, **kwargs) -> BulkAction:
    run_filter = run_filter_build(
        function=function,
        kind=kind,
        started_after=since,
        started_before=timezone.now() + timedelta(hours=1),
        statuses=kwargs.pop("statuses", None),
    )
    return bulk_action_create(
        run_filter=run_filter, kind=kind, actor=None, actor_label="test", **kwargs
    )


def wait_until(condition, *, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    statuses = list(Run.objects.values_list("status").annotate(n=Count("id")))
    raise AssertionError(f"timed out waiting for {what}; runs by status: {statuses}")


def ended(action: BulkAction) -> BulkAction:
    def check():
        fresh = BulkAction.objects.get(pk=action.pk)
        return fresh if fresh.status != BulkStatus.RUNNING else None

    return wait_until(check, what=f"{action} to end")


def test_a_bulk_cancel_leaves_no_run_queued_or_running(env, engine):
    since = timezone.now() - timedelta(seconds=1)
    fn = env.functions.get(slug=f"{APP}-cancellable")
    # Most runs wait for a first call due later (the test app stays responsive); 50 are live.
    make_runs(fn, 150, name="engine/cancellable", start_at=timezone.now() + timedelta(hours=1))
    start_runs(env, "engine/cancellable", 50)
    # Cancel while the engine is still busy: queued, mid-call and sleeping runs all match.
    wait_until(lambda: fn.runs.filter(status=RunStatus.SLEEPING).count() >= 10, what="sleepers")
    action = start(fn, "cancel", since)
    assert action.matched == 200
    later = send(env, "engine/cancellable", {"i": "later"})
    action = ended(action)
    assert (action.status, action.processed, action.succeeded) == ("completed", 200, 200)
    batch = fn.runs.filter(pk__lte=action.last_run_id)
    time.sleep(1)  # late results of calls in flight must not revive a run
    assert set(batch.values_list("status", flat=True)) == {RunStatus.CANCELLED}
    assert not Job.objects.filter(run__in=batch).exists()
    # A run that started after the cancellation was created is left alone.
    wait_for_run(lambda: Run.objects.filter(events=later).first(), status=RunStatus.SLEEPING)


def test_a_bulk_replay_starts_one_linked_run_per_failed_run_at_its_pace(env, engine):
    since = timezone.now() - timedelta(seconds=1)
    fn = env.functions.get(slug=f"{APP}-hopeless")
    make_runs(fn, 100, name="engine/hopeless", status=RunStatus.FAILED)
    began = time.monotonic()
    action = ended(start(fn, "replay", since, statuses=["failed"], pace=40))
    assert time.monotonic() - began >= 1.5  # 100 runs at 40 a second: three chunks
    assert (action.status, action.matched, action.succeeded) == ("completed", 100, 100)
    replays = Run.objects.filter(replay_of__function=fn)
    assert replays.count() == 100 and replays.values("replay_of").distinct().count() == 100
    wait_until(
        lambda: replays.filter(status=RunStatus.FAILED).count() == 100, what="replays to run"
    )


def test_a_stopped_bulk_replay_starts_no_more_runs(env, engine):
    since = timezone.now() - timedelta(seconds=1)
    fn = env.functions.get(slug=f"{APP}-hopeless")
    make_runs(fn, 60, name="engine/hopeless", status=RunStatus.FAILED)
    action = start(fn, "replay", since, statuses=["failed"], pace=10)
    wait_until(lambda: Run.objects.filter(replay_of__function=fn).exists(), what="a replay")
    assert bulk_action_stop(action=action, actor=None, actor_label="test")
    started = Run.objects.filter(replay_of__function=fn).count()
    time.sleep(2)
    action.refresh_from_db()
    assert action.status == BulkStatus.STOPPED and action.processed == started < 60
    assert Run.objects.filter(replay_of__function=fn).count() == started
