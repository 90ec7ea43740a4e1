"""Creating, stopping and advancing bulk actions.

An action advances in chunks, each one transaction: lock the action (skipping one another
process is advancing), act on the next runs after its cursor, move the cursor. The engine's
periodic loops call `bulk_tick` (local backend: the server's timer thread; Celery: every
worker's sweeper), so bulk actions need no process of their own.
"""

import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from controlplane.bulk.models import BulkAction, BulkKind, BulkStatus
from controlplane.bulk.selectors import RunFilter, run_filter_of
from controlplane.engine.actions import ReplayRefused, run_replay
from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.engine.terminate import run_cancel
from controlplane.expressions import ExpressionError, validate
from controlplane.registry.models import Function
from controlplane.runs.models import ACTIVE_STATUSES, RunStatus
from controlplane.tenancy.audit import audit_record

REPLAYABLE = (RunStatus.FAILED, RunStatus.CANCELLED)
MAX_PACE = 1000
CANCEL_CHUNK = 100  # cancels are not paced: they free the queue, the sooner the better
MAX_REPLAY_CHUNK = 200


class BulkRefused(ValueError):
    """The action cannot be created as asked; the message says why, in words for the user."""


def run_filter_build(
    *,
    function: Function,
    kind: str,
    started_after: datetime,
    started_before: datetime,
    expression: str = "",
    statuses: list[str] | None = None,
) -> RunFilter:
    """The runs an action would act on, or BulkRefused (bad range, expression or statuses)."""
    if started_after >= started_before:
        raise BulkRefused("`started_after` must be earlier than `started_before`.")
    if expression:
        try:
            validate(expression, variables={"event"})
        except ExpressionError as exc:
            raise BulkRefused(f"The `if` expression is not valid: {exc}") from None
    if kind == BulkKind.CANCEL:
        chosen = tuple(ACTIVE_STATUSES)
    else:
        chosen = tuple(s for s in REPLAYABLE if s in (statuses or []))
        if not chosen or set(statuses or []) - set(REPLAYABLE):
            raise BulkRefused("Choose which runs to replay: `failed`, `cancelled` or both.")
    return RunFilter(function, chosen, started_after, started_before, expression)


def bulk_action_create(
    *,
    run_filter: RunFilter,
    kind: str,
    actor,
    actor_label: str,
    name: str = "",
    pace: int | None = None,
) -> BulkAction:
    """Start cancelling or replaying the runs `run_filter` selects, as they are now: runs
    created later are never touched.

    Side effects: the action (its matching runs counted), an audit entry. Chunks follow on
    the next tick of the engine's periodic loop.
    """
    if pace is None:
        pace = BulkAction._meta.get_field("pace").default
    if not 1 <= pace <= MAX_PACE:
        raise BulkRefused(f"`pace` must be from 1 to {MAX_PACE} runs per second.")
    function = run_filter.function
    with transaction.atomic():
        last = function.runs.aggregate(last=Max("pk"))["last"] or 0
        action = BulkAction.objects.create(
            environment_id=function.environment_id,
            function=function,
            kind=kind,
            name=name,
            started_after=run_filter.started_after,
            started_before=run_filter.started_before,
            expression=run_filter.expression,
            statuses=list(run_filter.statuses),
            pace=pace,
            matched=run_filter.count(upto_id=last),
            last_run_id=last,
            next_chunk_at=timezone.now(),
            created_by=actor,
            created_by_label=actor_label,
        )
        _audit(action, actor, "bulk.created", matched=action.matched, by=actor_label)
    return action


def bulk_action_stop(*, action: BulkAction, actor, actor_label: str) -> bool:
    """Stop a running action; False if it had already ended. Waits for a chunk in progress, so
    once this returns no further run is cancelled or replayed by it.

    Side effects: the action stopped, an audit entry.
    """
    with transaction.atomic():
        action = (
            BulkAction.objects.select_for_update(of=("self",))
            .select_related("function", "environment__organization")
            .get(pk=action.pk)
        )
        if action.status != BulkStatus.RUNNING:
            return False
        _end(action, BulkStatus.STOPPED, note=f"Stopped by {actor_label}.")
        _audit(action, actor, "bulk.stopped", by=actor_label, processed=action.processed)
    return True


def bulk_tick(*, budget_seconds: float = 1.0) -> int:
    """Run due chunks, any action's, for up to about `budget_seconds`. Returns how many ran."""
    deadline = time.monotonic() + budget_seconds
    chunks = 0
    while time.monotonic() < deadline and bulk_chunk_process():
        chunks += 1
    return chunks


def bulk_chunk_process() -> bool:
    """Advance the most overdue running action by one chunk, in one transaction. False if none
    is due (or all due ones are being advanced elsewhere)."""
    with transaction.atomic():
        action = (
            BulkAction.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("function", "created_by", "environment__organization")
            .filter(status=BulkStatus.RUNNING, next_chunk_at__lte=timezone.now())
            .order_by("next_chunk_at")
            .first()
        )
        if action is None:
            return False
        if action.kind == BulkKind.CANCEL:
            _cancel_chunk(action)
        else:
            _replay_chunk(action)
    return True


def _cancel_chunk(action: BulkAction) -> None:
    """Cancel the next active runs. Each run is locked without skipping: a run a worker is
    storing an outcome for is waited for, never passed over and left running."""
    run_filter = run_filter_of(action)
    runs = list(
        run_filter.candidates(after_id=action.cursor, upto_id=action.last_run_id)
        .select_for_update(of=("self",))
        .select_related("function", "environment", "event")[:CANCEL_CHUNK]
    )
    reason = f"Cancelled in bulk ({action.name or action.public_id}) by {action.created_by_label}."
    fx = Effects()
    for run in runs:
        if run_filter.matches(run):
            action.processed += 1
            action.succeeded += run_cancel(run, fx=fx, actor=action.created_by, reason=reason)
    settle(fx)
    _advance(action, runs, full=len(runs) == CANCEL_CHUNK, next_at=timezone.now())


def _replay_chunk(action: BulkAction) -> None:
    """Replay up to `pace` runs, then wait long enough to keep to the pace."""
    run_filter = run_filter_of(action)
    size = min(action.pace, MAX_REPLAY_CHUNK)
    runs = list(
        run_filter.candidates(after_id=action.cursor, upto_id=action.last_run_id).select_related(
            "function__app", "environment__organization", "event"
        )[:size]
    )
    started = 0
    for run in runs:
        if not run_filter.matches(run):
            continue
        try:
            run_replay(run=run, actor=action.created_by)
        except ReplayRefused as refused:
            # Only the function's state refuses a finished run: every later one would be too.
            action.cursor = run.pk - 1
            _end(action, BulkStatus.STOPPED, note=str(refused))
            return
        action.processed += 1
        action.succeeded += 1
        started += 1
    next_at = timezone.now() + timedelta(seconds=started / action.pace)
    _advance(action, runs, full=len(runs) == size, next_at=next_at)


def _advance(action: BulkAction, runs: list, *, full: bool, next_at: datetime) -> None:
    if runs:
        action.cursor = runs[-1].pk
    if full:
        action.next_chunk_at = next_at
        action.save(update_fields=["cursor", "processed", "succeeded", "next_chunk_at"])
    else:
        _end(action, BulkStatus.COMPLETED)


def _end(action: BulkAction, status: str, *, note: str = "") -> None:
    action.status, action.note, action.ended_at = status, note, timezone.now()
    action.save(update_fields=["status", "note", "ended_at", "cursor", "processed", "succeeded"])


def _audit(action: BulkAction, actor, verb: str, **data) -> None:
    audit_record(
        organization=action.environment.organization,
        environment=action.environment,
        actor=actor,
        action=verb,
        target=action,
        data={"kind": action.kind, "function": action.function.slug, **data},
    )
