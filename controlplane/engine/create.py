"""Starting runs: from matching events, cron fires, invocations and replays."""

from datetime import datetime

from django.utils import timezone

from controlplane.engine.jobs import job_schedule
from controlplane.engine.protocol import parse_duration
from controlplane.events.models import Event
from controlplane.flow.keys import run_keys
from controlplane.registry.models import Function
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, JobKind, Run, Wait, WaitKind


def run_create(
    *,
    function: Function,
    events: list[Event],
    parent: Run | None = None,
    parent_step_id: str = "",
    replay_of: Run | None = None,
    start_at: datetime | None = None,
    notes: list[str] | None = None,
) -> Run:
    """A queued run of `function` for `events`, its first call due now (or at `start_at`).

    Side effects: the run with its flow-control keys (priority, concurrency queues, singleton
    key), its `scheduled` history row (with notes on keys that failed to evaluate), the first
    job, cancelOn subscriptions (waits of kind cancel) and, for `timeouts.start`, the deadline
    the first call checks.
    """
    keys = run_keys(function, events[0].as_sdk_payload())
    run = Run.objects.create(
        environment_id=function.environment_id,
        function=function,
        function_version=function.version,
        event=events[0],
        parent=parent,
        parent_step_id=parent_step_id,
        replay_of=replay_of,
        priority=keys.priority,
        concurrency=keys.concurrency,
        singleton_key=keys.singleton,
    )
    Run.events.through.objects.bulk_create([Run.events.through(run=run, event=e) for e in events])
    now = timezone.now()
    schedule = {"event": events[0].public_id, "event_name": events[0].name}
    if start_at:
        schedule["start_at"] = start_at.isoformat()
    if all_notes := [*(notes or []), *keys.notes]:
        schedule["notes"] = all_notes
    history_append(run, HistoryKind.SCHEDULED, **schedule)
    payload = {}
    if start := (function.config.get("timeouts") or {}).get("start"):
        payload["start_by"] = (max(now, start_at or now) + parse_duration(start)).isoformat()
    job_schedule(run, JobKind.CALL, payload=payload, at=start_at)
    for cancel in function.config.get("cancel") or []:
        timeout = cancel.get("timeout")
        Wait.objects.create(
            run=run,
            environment_id=run.environment_id,
            kind=WaitKind.CANCEL,
            event_name=cancel["event"],
            expression=cancel.get("if") or "",
            expires_at=now + parse_duration(timeout) if timeout else None,
        )
    return run
