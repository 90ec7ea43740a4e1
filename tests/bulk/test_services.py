"""Bulk cancel and replay as services: what they match, chunks, cursor, pace, stop, bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.bulk.models import BulkKind, BulkStatus
from controlplane.bulk.services import (
    CANCEL_CHUNK,
    BulkRefused,
    bulk_action_create,
    bulk_action_stop,
    bulk_chunk_process,
    bulk_tick,
    run_filter_build,
)
from controlplane.flow.services import function_pause
from controlplane.runs.models import Job, Run, RunStatus, Wait
from controlplane.tenancy.models import AuditEntry
from tests.bulk.conftest import last_hour, make_runs

pytestmark = pytest.mark.django_db


def cancel_all(world, fn, **kwargs):
    return bulk_action_create(
        run_filter=last_hour(fn, **kwargs),
        kind=BulkKind.CANCEL,
        actor=world.member,
        actor_label=world.member.email,
    )


def test_it_cancels_every_matching_active_run_and_nothing_else(world, fn):
    active = make_runs(fn, 250)
    done = make_runs(fn, 5, status=RunStatus.COMPLETED)
    other = make_runs(fn.app.functions.get(slug="app-g"), 3)
    action = cancel_all(world, fn)
    assert action.matched == 250 and action.status == BulkStatus.RUNNING
    later = make_runs(fn, 2)  # created after the action: never touched
    while bulk_chunk_process():
        pass
    action.refresh_from_db()
    assert (action.status, action.processed, action.succeeded) == ("completed", 250, 250)
    assert set(
        Run.objects.filter(pk__in=[r.pk for r in active]).values_list("status", flat=True)
    ) == {RunStatus.CANCELLED}
    assert not Job.objects.filter(run__in=active).exists()
    assert not Wait.objects.filter(run__in=active, resolved_at__isnull=True).exists()
    for untouched, status in ((done, "completed"), (other, "queued"), (later, "queued")):
        assert {r.status for r in Run.objects.filter(pk__in=[r.pk for r in untouched])} == {status}
    cancelled = Run.objects.get(pk=active[0].pk)
    assert cancelled.cancelled_by == world.member and "in bulk" in cancelled.error["message"]
    assert AuditEntry.objects.filter(action="bulk.created", actor=world.member).count() == 1


def test_the_if_expression_narrows_the_runs(world, fn):
    make_runs(fn, 40)
    action = cancel_all(world, fn, expression="event.data.n % 4 == 0")
    assert action.matched == 10
    bulk_tick()
    action.refresh_from_db()
    assert (action.status, action.succeeded) == ("completed", 10)
    cancelled = fn.runs.filter(status=RunStatus.CANCELLED)
    assert sorted(r.event.data["n"] for r in cancelled) == list(range(0, 40, 4))
    assert fn.runs.filter(status=RunStatus.QUEUED).count() == 30


def test_the_cursor_survives_a_crash_mid_chunk(world, fn, monkeypatch):
    runs = make_runs(fn, 250)
    action = cancel_all(world, fn)
    assert bulk_chunk_process()
    action.refresh_from_db()
    assert action.cursor == runs[CANCEL_CHUNK - 1].pk and action.processed == CANCEL_CHUNK

    from controlplane.bulk import services

    real_cancel, calls = services.run_cancel, []

    def crash_on_the_tenth(run, **kwargs):
        calls.append(run.pk)
        if len(calls) == 10:
            raise RuntimeError("the worker died")
        return real_cancel(run, **kwargs)

    monkeypatch.setattr(services, "run_cancel", crash_on_the_tenth)
    with pytest.raises(RuntimeError):
        bulk_chunk_process()
    action.refresh_from_db()  # the chunk rolled back as one: nothing half-written
    assert action.cursor == runs[CANCEL_CHUNK - 1].pk and action.processed == CANCEL_CHUNK
    assert fn.runs.filter(status=RunStatus.CANCELLED).count() == CANCEL_CHUNK

    monkeypatch.setattr(services, "run_cancel", real_cancel)
    bulk_tick(budget_seconds=60)  # the default 1 s can end after one chunk on a loaded machine
    action.refresh_from_db()
    assert (action.status, action.processed, action.succeeded) == ("completed", 250, 250)
    assert not fn.runs.exclude(status=RunStatus.CANCELLED).exists()


def test_replay_starts_one_linked_run_per_chosen_run_at_its_pace(world, fn):
    failed = make_runs(fn, 70, status=RunStatus.FAILED)
    make_runs(fn, 10, status=RunStatus.CANCELLED)
    make_runs(fn, 5, status=RunStatus.COMPLETED)
    action = bulk_action_create(
        run_filter=last_hour(fn, kind=BulkKind.REPLAY, statuses=["failed"]),
        kind=BulkKind.REPLAY,
        actor=None,
        actor_label="API key ci",
        name="retry the outage",
        pace=50,
    )
    assert action.matched == 70
    assert bulk_tick() == 1  # one chunk of 50, then the pace holds the next back for a second
    action.refresh_from_db()
    assert action.processed == 50 and action.next_chunk_at > timezone.now()
    assert set(Run.objects.filter(replay_of__isnull=False).values_list("status", flat=True)) == {
        RunStatus.QUEUED
    }
    assert bulk_action_stop(action=action, actor=world.owner, actor_label=world.owner.email)
    fn.bulk_actions.update(next_chunk_at=timezone.now())
    assert not bulk_chunk_process()  # stopped: no further run starts
    assert Run.objects.filter(replay_of__in=failed).count() == 50
    action.refresh_from_db()
    assert action.status == BulkStatus.STOPPED and world.owner.email in action.note
    assert not bulk_action_stop(action=action, actor=world.owner, actor_label="again")
    assert AuditEntry.objects.filter(action="bulk.stopped").count() == 1


def test_replay_of_cancelled_and_failed_runs_completes(world, fn):
    make_runs(fn, 4, status=RunStatus.FAILED)
    make_runs(fn, 3, status=RunStatus.CANCELLED)
    action = bulk_action_create(
        run_filter=last_hour(fn, kind=BulkKind.REPLAY, statuses=["failed", "cancelled"]),
        kind=BulkKind.REPLAY,
        actor=world.member,
        actor_label=world.member.email,
    )
    bulk_tick()
    action.refresh_from_db()
    assert (action.status, action.matched, action.succeeded) == ("completed", 7, 7)
    assert Run.objects.filter(replay_of__isnull=False).count() == 7


def test_replay_stops_with_the_reason_when_the_function_cannot_run(world, fn):
    make_runs(fn, 3, status=RunStatus.FAILED)
    action = bulk_action_create(
        run_filter=last_hour(fn, kind=BulkKind.REPLAY, statuses=["failed"]),
        kind=BulkKind.REPLAY,
        actor=world.member,
        actor_label=world.member.email,
    )
    function_pause(function=fn, actor=world.owner)
    bulk_tick()
    action.refresh_from_db()
    assert action.status == BulkStatus.STOPPED and "paused" in action.note
    assert action.processed == 0 and not Run.objects.filter(replay_of__isnull=False).exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"started_before": timezone.now() - timedelta(hours=2)}, "earlier than"),
        ({"expression": "event.data.n =="}, "not valid"),
        ({"expression": "async.data.n == 1"}, "Unknown variable async"),
        ({"kind": "replay", "statuses": []}, "Choose which runs"),
        ({"kind": "replay", "statuses": ["completed"]}, "Choose which runs"),
    ],
)
def test_it_refuses_bad_filters(fn, change, message):
    now = timezone.now()
    args = {
        "function": fn,
        "kind": "cancel",
        "started_after": now - timedelta(hours=1),
        "started_before": now,
        **change,
    }
    with pytest.raises(BulkRefused, match=message):
        run_filter_build(**args)


def test_it_refuses_a_pace_out_of_range(world, fn):
    with pytest.raises(BulkRefused, match="pace"):
        bulk_action_create(
            run_filter=last_hour(fn, kind="replay", statuses=["failed"]),
            kind="replay",
            actor=None,
            actor_label="x",
            pace=5000,
        )
    assert not fn.bulk_actions.exists()
