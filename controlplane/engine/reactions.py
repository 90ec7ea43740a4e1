"""What newly stored events set off: runs of functions they trigger, waits they resolve, runs
they cancel (cancelOn). Runs in the caller's transaction."""

from collections import defaultdict

from django.utils import timezone

from controlplane.engine.effects import Effects
from controlplane.engine.steps import run_state_save, run_steps, step_resolve_pending
from controlplane.engine.terminate import run_cancel
from controlplane.events.models import Event
from controlplane.expressions import matches
from controlplane.flow.admission import admit
from controlplane.registry.models import FunctionTrigger
from controlplane.runs.models import HistoryKind, Run, StepStatus, Wait, WaitKind


def react(events: list[Event], *, fx: Effects) -> list[Run]:
    """Start, resume and cancel runs for newly stored events. Returns the runs started."""
    if not events:
        return []
    started = _trigger(events, fx=fx)
    _resolve_waits(events, fx=fx)
    return started


def _trigger(events: list[Event], *, fx: Effects) -> list[Run]:
    by_env = defaultdict(list)
    for event in events:
        by_env[event.environment_id].append(event)
    started = []
    for environment_id, env_events in by_env.items():
        triggers = (
            FunctionTrigger.objects.filter(
                environment_id=environment_id, event_name__in={e.name for e in env_events}
            )
            .select_related("function__app", "function__environment")
            .order_by("id")
        )
        by_name = defaultdict(list)
        for trigger in triggers:
            by_name[trigger.event_name].append(trigger)
        for event in env_events:
            started += _runs_for_event(event, by_name[event.name], fx=fx)
    return started


def _runs_for_event(event: Event, triggers: list[FunctionTrigger], *, fx: Effects) -> list[Run]:
    runs, seen = [], set()
    payload = None
    for trigger in triggers:
        function = trigger.function
        gone = function.removed_at is not None or function.app.is_archived
        if function.pk in seen or gone or function.environment.is_archived:
            continue
        if trigger.expression:
            payload = payload or {"event": event.as_sdk_payload()}
            if not matches(trigger.expression, payload):
                continue
        seen.add(function.pk)  # several triggers of one function: one run per event
        if (run := admit(function, event, fx=fx)) is not None:
            runs.append(run)
    return runs


def _resolve_waits(events: list[Event], *, fx: Effects) -> None:
    """Each open wait whose event name and `if` match resolves exactly once, oldest first."""
    now = timezone.now()
    by_key = defaultdict(list)
    open_waits = Wait.objects.filter(
        environment_id__in={e.environment_id for e in events},
        event_name__in={e.name for e in events},
        resolved_at__isnull=True,
    )
    for wait in open_waits.select_related("run__event").order_by("id"):
        by_key[(wait.environment_id, wait.event_name)].append(wait)
    for event in events:
        incoming = None
        for wait in by_key[(event.environment_id, event.name)]:
            if wait.resolved_at or (wait.expires_at and wait.expires_at <= now):
                continue
            incoming = incoming or event.as_sdk_payload()
            if wait.expression:
                context = {"event": wait.run.event.as_sdk_payload(), "async": incoming}
                if not matches(wait.expression, context):
                    continue
            if not Wait.objects.filter(pk=wait.pk, resolved_at__isnull=True).update(
                resolved_at=now, resolved_event=event
            ):
                continue  # another event got there first
            wait.resolved_at = now
            _on_wait_resolved(wait, event, incoming, fx=fx)


def _on_wait_resolved(wait: Wait, event: Event, incoming: dict, *, fx: Effects) -> None:
    run = (
        Run.objects.select_for_update(of=("self",))
        .select_related("function", "environment", "event")
        .get(pk=wait.run_id)
    )
    if run.is_finished:
        return
    if wait.kind == WaitKind.CANCEL:
        run_cancel(run, fx=fx, reason=f"Cancelled by event {event.name} ({event.public_id}).")
        return
    step = run_steps(run).get(wait.step_id)
    if step is not None and step.status == StepStatus.WAITING:
        # The SDK gets the matching event itself, not wrapped (PROTOCOL.md 4.4).
        step_resolve_pending(
            run, step, incoming, history_kind=HistoryKind.WAIT_RESOLVED, event=event.public_id
        )
        run_state_save(run)
