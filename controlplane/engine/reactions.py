"""What newly stored events set off: runs of functions they trigger, waits they resolve, runs
they cancel (cancelOn). Runs in the caller's transaction."""

from collections import defaultdict

from django.utils import timezone

from controlplane.engine.create import run_create
from controlplane.engine.effects import Effects
from controlplane.engine.steps import step_resolve_pending
from controlplane.engine.terminate import run_cancel
from controlplane.events.models import Event
from controlplane.expressions import matches
from controlplane.registry.models import FunctionTrigger
from controlplane.runs.models import HistoryKind, Run, Step, StepStatus, Wait, WaitKind


def react(events: list[Event], *, fx: Effects) -> list[Run]:
    """Start, resume and cancel runs for newly stored events. Returns the runs started."""
    if not events:
        return []
    started = _trigger(events)
    _resolve_waits(events, fx=fx)
    return started


def _trigger(events: list[Event]) -> list[Run]:
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
            started += _runs_for_event(event, by_name[event.name])
    return started


def _runs_for_event(event: Event, triggers: list[FunctionTrigger]) -> list[Run]:
    runs, seen = [], set()
    payload = None
    for trigger in triggers:
        function = trigger.function
        if function.pk in seen or not function.is_active or function.environment.is_archived:
            continue
        if trigger.expression:
            payload = payload or {"event": event.as_sdk_payload()}
            if not matches(trigger.expression, payload):
                continue
        seen.add(function.pk)  # several triggers of one function: one run per event
        runs.append(run_create(function=function, events=[event]))
    return runs


def _resolve_waits(events: list[Event], *, fx: Effects) -> None:
    """Each open wait whose event name and `if` match resolves exactly once, oldest first."""
    now = timezone.now()
    for event in events:
        waits = (
            Wait.objects.filter(
                environment_id=event.environment_id, event_name=event.name, resolved_at__isnull=True
            )
            .select_related("run__event")
            .order_by("id")
        )
        incoming = event.as_sdk_payload()
        for wait in waits:
            if wait.expires_at and wait.expires_at <= now:
                continue
            if wait.expression:
                context = {"event": wait.run.event.as_sdk_payload(), "async": incoming}
                if not matches(wait.expression, context):
                    continue
            if not Wait.objects.filter(pk=wait.pk, resolved_at__isnull=True).update(
                resolved_at=now, resolved_event=event
            ):
                continue  # another event got there first
            _on_wait_resolved(wait, event, incoming, fx=fx)


def _on_wait_resolved(wait: Wait, event: Event, incoming: dict, *, fx: Effects) -> None:
    run = (
        Run.objects.select_for_update()
        .select_related("function", "environment", "event")
        .get(pk=wait.run_id)
    )
    if run.is_finished:
        return
    if wait.kind == WaitKind.CANCEL:
        run_cancel(run, fx=fx, reason=f"Cancelled by event {event.name} ({event.public_id}).")
        return
    step = Step.objects.filter(run=run, step_id=wait.step_id, status=StepStatus.WAITING).first()
    if step is not None:
        # The SDK gets the matching event itself, not wrapped (PROTOCOL.md 4.4).
        step_resolve_pending(
            run, step, incoming, history_kind=HistoryKind.WAIT_RESOLVED, event=event.public_id
        )
