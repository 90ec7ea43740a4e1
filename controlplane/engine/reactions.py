"""What newly stored events set off: runs of functions they trigger, waits they resolve, runs
they cancel (cancelOn). Runs in the caller's transaction."""

from collections import defaultdict

from django.db import connection
from django.utils import timezone

from controlplane.engine.effects import Effects
from controlplane.engine.steps import run_state_save, run_steps, step_resolve_pending
from controlplane.engine.terminate import run_cancel
from controlplane.events.models import Event
from controlplane.expressions import matches
from controlplane.flow.admission import admit
from controlplane.registry.models import FunctionTrigger
from controlplane.registry.wildcards import trigger_patterns
from controlplane.runs.models import HistoryKind, Run, StepStatus, Wait, WaitKind


def react(events: list[Event], *, fx: Effects) -> list[Run]:
    """Start, resume and cancel runs for newly stored events. Returns the runs started."""
    if not events:
        return []
    trigger_ids, wait_ids = _candidates(events)
    started = _trigger(events, trigger_ids, fx=fx) if trigger_ids else []
    if wait_ids:
        _resolve_waits(events, wait_ids, fx=fx)
    return started


# Which triggers and open waits name these events, in one plain query: most events (every
# run's inngest/function.finished, to begin with) have neither, and the ORM reads below, with
# their joins, cost far more CPU than finding that out. Triggers are looked up by every pattern
# the names match (wildcards included); waits, as in Inngest, by the exact name only. Each half
# states its partial index's condition: SQLite uses a partial index only when the query does.
_CANDIDATES_SQL = (
    "SELECT 'trigger', id FROM {trigger} WHERE environment_id IN ({envs}) AND event_name IN "
    "({patterns}) AND NOT (event_name = '') UNION ALL SELECT 'wait', id FROM {wait} WHERE "
    "environment_id IN ({envs}) AND event_name IN ({names}) AND resolved_at IS NULL"
)


def _candidates(events: list[Event]) -> tuple[list[int], list[int]]:
    envs = sorted({e.environment_id for e in events})
    names = sorted({e.name for e in events})
    patterns = sorted({pattern for name in names for pattern in trigger_patterns(name)})
    sql = _CANDIDATES_SQL.format(
        trigger=FunctionTrigger._meta.db_table,
        wait=Wait._meta.db_table,
        envs=", ".join(["%s"] * len(envs)),
        patterns=", ".join(["%s"] * len(patterns)),
        names=", ".join(["%s"] * len(names)),
    )
    ids = {"trigger": [], "wait": []}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*envs, *patterns, *envs, *names])
        for kind, pk in cursor.fetchall():
            ids[kind].append(pk)
    return ids["trigger"], ids["wait"]


def _trigger(events: list[Event], trigger_ids: list[int], *, fx: Effects) -> list[Run]:
    triggers = (
        FunctionTrigger.objects.filter(pk__in=trigger_ids)
        .select_related("function__app", "function__environment")
        .order_by("id")
    )
    by_key = defaultdict(list)
    for trigger in triggers:
        by_key[(trigger.environment_id, trigger.event_name)].append(trigger)
    started = []
    for event in events:
        patterns = trigger_patterns(event.name)
        matching = [t for p in patterns for t in by_key[(event.environment_id, p)]]
        started += _runs_for_event(event, sorted(matching, key=lambda t: t.pk), fx=fx)
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


def _resolve_waits(events: list[Event], wait_ids: list[int], *, fx: Effects) -> None:
    """Each open wait whose event name and `if` match resolves exactly once, oldest first."""
    now = timezone.now()
    by_key = defaultdict(list)
    open_waits = Wait.objects.filter(pk__in=wait_ids, resolved_at__isnull=True)
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
