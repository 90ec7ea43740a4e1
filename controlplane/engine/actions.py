"""Things people do to runs (dashboard, REST API): each one transaction, effects emitted."""

from django.db import transaction

from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.engine.terminate import run_cancel
from controlplane.runs.models import Run


def run_cancel_by(*, run: Run, actor=None, reason: str = "") -> bool:
    """Cancel a queued, running, sleeping or waiting run. False if it had already finished.

    Side effects: the run is cancelled (jobs dropped, waits closed), a `cancelled` history row
    naming who did it, `inngest/function.cancelled` and `.finished` events.
    """
    who = actor.email if actor is not None else "the API"
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("function", "environment", "event")
            .get(pk=run.pk)
        )
        fx = Effects()
        cancelled = run_cancel(run, fx=fx, actor=actor, reason=reason or f"Cancelled by {who}.")
        settle(fx)
    return cancelled
