"""Pausing and resuming functions, and replaying the events skipped meanwhile."""

from django.db import transaction
from django.utils import timezone

from controlplane.engine.create import run_create
from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.engine.terminate import run_cancel
from controlplane.flow.models import Skip, SkipReason
from controlplane.registry.models import Function
from controlplane.runs.models import ACTIVE_STATUSES
from controlplane.tenancy.audit import audit_record


def _audit(function: Function, actor, action: str, **data) -> None:
    audit_record(
        organization=function.environment.organization,
        environment=function.environment,
        actor=actor,
        action=action,
        target=function,
        data=data,
    )


@transaction.atomic
def function_pause(*, function: Function, actor, cancel_running: bool = False) -> int:
    """Stop starting runs: events that would start one are recorded as skipped. Runs in flight
    finish, or are cancelled with `cancel_running`. Returns how many were cancelled.

    Side effects: the function's paused_at, cancelled runs (with their events), an audit entry.
    """
    function = (
        Function.objects.select_for_update(of=("self",))
        .select_related("environment__organization")
        .get(pk=function.pk)
    )
    if function.paused_at is None:
        function.paused_at = timezone.now()
        function.save(update_fields=["paused_at"])
    cancelled = 0
    if cancel_running:
        fx = Effects()
        active = function.runs.select_for_update(of=("self",)).filter(status__in=ACTIVE_STATUSES)
        for run in active.select_related("function", "environment", "event"):
            cancelled += run_cancel(
                run, fx=fx, actor=actor, reason="Cancelled when the function was paused."
            )
        settle(fx)
    _audit(function, actor, "function.paused", cancelled_runs=cancelled)
    return cancelled


@transaction.atomic
def function_resume(*, function: Function, actor) -> None:
    function = (
        Function.objects.select_for_update(of=("self",))
        .select_related("environment__organization")
        .get(pk=function.pk)
    )
    if function.paused_at is not None:
        function.paused_at = None
        function.save(update_fields=["paused_at"])
        _audit(function, actor, "function.resumed")


@transaction.atomic
def skipped_replay(*, function: Function, actor, reason: str = SkipReason.PAUSED) -> int:
    """Start a run for each event skipped (by default: while paused) and not replayed yet.

    Side effects: one run per skipped event, the skips marked replayed, an audit entry.
    """
    skips = list(
        Skip.objects.select_for_update()
        .filter(function=function, reason=reason, replayed=False)
        .select_related("event")
        .order_by("id")
    )
    for skip in skips:
        run_create(function=function, events=[skip.event])
    Skip.objects.filter(id__in=[s.pk for s in skips]).update(replayed=True)
    _audit(function, actor, "function.skipped_replayed", runs=len(skips), reason=reason)
    return len(skips)
