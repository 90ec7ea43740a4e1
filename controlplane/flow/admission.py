"""Whether, when and how an event starts a run of a function (PROTOCOL.md 2.3 shapes, Inngest
semantics): pause, rate limit and idempotency skip it; singleton skips it or cancels the active
run; debounce and batching hold it in a run that has not started; throttle delays the start."""

from datetime import datetime, timedelta

from django.utils import timezone

from controlplane.engine.create import run_create
from controlplane.engine.effects import Effects
from controlplane.engine.jobs import jobs_reschedule
from controlplane.engine.protocol import parse_duration
from controlplane.engine.terminate import run_cancel
from controlplane.events.models import Event
from controlplane.expressions import matches
from controlplane.flow import gcra
from controlplane.flow.keys import key_value
from controlplane.flow.models import Pending, PendingKind, Skip, SkipReason
from controlplane.registry.models import Function
from controlplane.runs.history import history_append
from controlplane.runs.models import ACTIVE_STATUSES, HistoryKind, Job, JobKind, Run

IDEMPOTENCY_PERIOD = timedelta(hours=24)
# Options whose decision depends on the function's other runs.
_SERIALIZED = ("singleton", "debounce", "batchEvents")


def admit(function: Function, event: Event, *, fx: Effects) -> Run | None:
    """Start, delay, hold or skip a run of `function` for `event`. Returns the run it went to.

    Side effects: for singleton, debounce and batching, locks the function row (their decisions
    must see each other's runs); then a Skip row, or a run (possibly delayed or pending), or an
    event added to a pending run. Rate limits and throttles lock only their own counter row.
    """
    if any(function.config.get(option) for option in _SERIALIZED):
        # NO KEY UPDATE: it serializes admissions all the same, but does not block the foreign
        # key checks of rows that reference the function (an engine transaction's SdkCall row,
        # checked at its commit while it holds a run lock this transaction may wait for next:
        # with FOR UPDATE the two deadlocked).
        function = (
            Function.objects.select_for_update(of=("self",), no_key=True)
            .select_related("app", "environment")
            .get(pk=function.pk)
        )
    config, now, payload = function.config, timezone.now(), event.as_sdk_payload()
    notes: list[str] = []
    if function.paused_at is not None:
        return _skip(function, event, SkipReason.PAUSED)
    if (limit := config.get("rateLimit")) and not _rate_allows(
        function, "rate", limit, payload, notes, now
    ):
        return _skip(function, event, SkipReason.RATE_LIMITED)
    if (expression := config.get("idempotency")) and not gcra.rate_allows(
        f"idem:{function.pk}:{key_value(expression, payload, notes, 'Idempotency')}",
        now=now,
        period=IDEMPOTENCY_PERIOD,
        limit=1,
    ):
        return _skip(function, event, SkipReason.IDEMPOTENT)
    if (singleton := config.get("singleton")) and not _singleton_clear(
        function, singleton, payload, notes, fx
    ):
        return _skip(function, event, SkipReason.SINGLETON)
    if debounce := config.get("debounce"):
        return _debounce(function, event, debounce, payload, notes, now)
    if (batch := config.get("batchEvents")) and _batched(batch, payload):
        return _batch(function, event, batch, payload, notes, now)
    return run_create(
        function=function,
        events=[event],
        start_at=_throttle_start(function, payload, notes, now),
        notes=notes,
    )


def _skip(function: Function, event: Event, reason: str) -> None:
    Skip.objects.create(
        environment_id=function.environment_id, function=function, event=event, reason=reason
    )
    return None


def _rate_allows(function, name, limit, payload, notes, now) -> bool:
    key = key_value(limit.get("key"), payload, notes, "Rate limit")
    return gcra.rate_allows(
        f"{name}:{function.pk}:{key}",
        now=now,
        period=parse_duration(limit["period"]),
        limit=int(limit["limit"]),
    )


def _throttle_start(
    function: Function, payload: dict, notes: list[str], now: datetime
) -> datetime | None:
    throttle = function.config.get("throttle")
    if not throttle:
        return None
    key = key_value(throttle.get("key"), payload, notes, "Throttle")
    start = gcra.throttle_start(
        f"throttle:{function.pk}:{key}",
        now=now,
        period=parse_duration(throttle["period"]),
        limit=int(throttle["limit"]),
        burst=int(throttle.get("burst") or 1),
    )
    return start if start > now else None


def _singleton_clear(function, singleton, payload, notes, fx: Effects) -> bool:
    """True if a new run may start: no active run with the key, or (mode cancel) none after
    cancelling it."""
    key = "s" + key_value(singleton.get("key"), payload, notes, "Singleton")
    active = Run.objects.select_for_update(of=("self",)).filter(
        function=function, singleton_key=key, status__in=ACTIVE_STATUSES
    )
    if not active.exists():
        return True
    if singleton.get("mode") != "cancel":
        return False
    for run in active.select_related("function", "environment", "event"):
        run_cancel(run, fx=fx, reason="Cancelled by a newer run of this singleton function.")
    return True


def _batched(batch: dict, payload: dict) -> bool:
    return not batch.get("if") or matches(batch["if"], {"event": payload})


def _open_pending(function, kind, key) -> Pending | None:
    """The pending run for this key, if it has not been claimed by a worker yet.

    Locks the run before its job, the order every transaction that touches both follows, so
    this never deadlocks with the run's own progress.
    """
    pending = (
        Pending.objects.select_for_update().filter(function=function, kind=kind, key=key).first()
    )
    if pending is None:
        return None
    Run.objects.select_for_update(of=("self",)).filter(pk=pending.run_id).first()
    first = Job.objects.select_for_update().filter(run_id=pending.run_id, kind=JobKind.CALL).first()
    if first is None or first.lease_until is not None:
        pending.delete()  # it started: the next event opens a new one
        return None
    return pending


def _debounce(function, event, debounce, payload, notes, now) -> Run:
    """One run, with the last event, `period` after the last event (capped by `timeout`)."""
    key = key_value(debounce.get("key"), payload, notes, "Debounce")
    period = parse_duration(debounce["period"])
    pending = _open_pending(function, PendingKind.DEBOUNCE, key)
    if pending is None:
        run = run_create(function=function, events=[event], start_at=now + period, notes=notes)
        Pending.objects.create(function=function, kind=PendingKind.DEBOUNCE, key=key, run=run)
        return run
    run = pending.run
    start = now + period
    if timeout := debounce.get("timeout"):
        start = min(start, pending.opened_at + parse_duration(timeout))
    run.event = event
    run.save(update_fields=["event"])
    run.events.set([event])
    jobs_reschedule(run, at=start)
    history_append(
        run, HistoryKind.SCHEDULED, event=event.public_id, event_name=event.name, debounced=True
    )
    return run


def _batch(function, event, batch, payload, notes, now) -> Run:
    """Up to `maxSize` events in one run, started when full or `timeout` after the first."""
    key = key_value(batch.get("key"), payload, notes, "Batch")
    max_size = int(batch["maxSize"])
    pending = _open_pending(function, PendingKind.BATCH, key)
    if pending is None:
        start = now + parse_duration(batch["timeout"]) if max_size > 1 else None
        run = run_create(function=function, events=[event], start_at=start, notes=notes)
        if max_size > 1:
            Pending.objects.create(function=function, kind=PendingKind.BATCH, key=key, run=run)
        return run
    run = pending.run
    run.events.add(event)
    pending.size += 1
    history_append(
        run,
        HistoryKind.SCHEDULED,
        event=event.public_id,
        event_name=event.name,
        batch_size=pending.size,
    )
    if pending.size >= max_size:
        pending.delete()
        jobs_reschedule(run, at=now)
    else:
        pending.save(update_fields=["size"])
    return run
