"""Starting runs: from matching events, cron fires, invocations and replays."""

from django.utils import timezone

from controlplane.engine.jobs import job_schedule
from controlplane.engine.protocol import parse_duration
from controlplane.events.models import Event
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
) -> Run:
    """A queued run of `function` for `events`, with its first call scheduled.

    Side effects: the run, its `scheduled` history row, the first job, cancelOn subscriptions
    (waits of kind cancel) and, for `timeouts.start`, the deadline the first call checks.
    """
    run = Run.objects.create(
        environment_id=function.environment_id,
        function=function,
        function_version=function.version,
        event=events[0],
        parent=parent,
        parent_step_id=parent_step_id,
        replay_of=replay_of,
    )
    run.events.add(*events)
    history_append(run, HistoryKind.SCHEDULED, event=events[0].public_id, event_name=events[0].name)
    now = timezone.now()
    payload = {}
    if start := (function.config.get("timeouts") or {}).get("start"):
        payload["start_by"] = (now + parse_duration(start)).isoformat()
    job_schedule(run, JobKind.CALL, payload=payload)
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
