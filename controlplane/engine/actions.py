"""Things people do to runs (dashboard, REST API): each one transaction, effects emitted."""

from django.db import transaction

from controlplane.engine.create import run_create
from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.engine.terminate import run_cancel
from controlplane.runs.models import Run
from controlplane.tenancy.audit import audit_record


class ReplayRefused(Exception):
    """The run cannot be replayed; the message says why, in words for the user."""


def run_cancel_by(*, run: Run, actor=None, reason: str = "") -> bool:
    """Cancel a queued, running, sleeping or waiting run. False if it had already finished.

    Side effects: the run is cancelled (jobs dropped, waits closed), a `cancelled` history row
    naming who did it, `inngest/function.cancelled` and `.finished` events, an audit entry.
    """
    who = actor.email if actor is not None else "the API"
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("function", "environment__organization", "event")
            .get(pk=run.pk)
        )
        fx = Effects()
        cancelled = run_cancel(run, fx=fx, actor=actor, reason=reason or f"Cancelled by {who}.")
        if cancelled:
            _audit(run, actor, "run.cancelled")
        settle(fx)
    return cancelled


def run_replay(*, run: Run, actor=None) -> Run:
    """A new run of the same function with the same event(s), linked as a replay of `run`.

    Only finished runs replay, and only while their function can start runs (not removed, not
    archived, not paused, environment not archived): otherwise ReplayRefused. Side effects: the
    new run, an audit entry.
    """
    function = run.function
    if not run.is_finished:
        raise ReplayRefused("Only a finished run can be replayed; this one is still active.")
    if function.removed_at is not None:
        raise ReplayRefused("The function was removed from its app; it cannot run again.")
    if function.app.is_archived or run.environment.is_archived:
        raise ReplayRefused("The function's app or environment is archived; it starts no runs.")
    if function.paused_at is not None:
        raise ReplayRefused("The function is paused; resume it to replay runs.")
    with transaction.atomic():
        replay = run_create(
            function=function, events=list(run.events.order_by("id")), replay_of=run
        )
        _audit(run, actor, "run.replayed", replay=replay.public_id)
    return replay


def _audit(run: Run, actor, action: str, **data) -> None:
    audit_record(
        organization=run.environment.organization,
        environment=run.environment,
        actor=actor,
        action=action,
        target=run,
        data=data,
    )
