"""Ending runs: completed, failed or cancelled, and what that sets off (PROTOCOL.md 4.9).

Callers hold the run's lock. Internal events go onto `fx` and are emitted by `settle`.
"""

from django.utils import timezone

from controlplane.engine.defers import defers_schedule
from controlplane.engine.effects import Effects
from controlplane.engine.errors import standard_error
from controlplane.engine.steps import run_state_save, run_steps, step_resolve_pending
from controlplane.observability.hooks import run_finished_observed
from controlplane.runs.history import history_append
from controlplane.runs.models import (
    STATE_FIELDS,
    HistoryKind,
    Job,
    Run,
    RunStatus,
    StepStatus,
    Wait,
)


def run_complete(run: Run, output, *, fx: Effects) -> None:
    _finish(run, RunStatus.COMPLETED, fx=fx, output=output)


def run_fail(run: Run, error: dict, *, fx: Effects) -> None:
    _finish(run, RunStatus.FAILED, fx=fx, error=error)


def run_cancel(run: Run, *, fx: Effects, actor=None, reason: str) -> bool:
    """Cancel an active run; False if it had already finished. In-flight calls are not
    interrupted: their late results are discarded when they come back."""
    if run.is_finished:
        return False
    error = standard_error("Cancelled", reason, error="function cancelled")
    run.cancelled_by = actor
    _finish(
        run, RunStatus.CANCELLED, fx=fx, error=error, by=actor.email if actor else "", reason=reason
    )
    return True


def _finish(run: Run, status: str, *, fx: Effects, output=None, error=None, **history) -> None:
    now = timezone.now()
    run.status, run.output, run.error, run.ended_at = status, output, error, now
    run.save(update_fields=["output", "error", "ended_at", "cancelled_by", *STATE_FIELDS])
    Job.objects.filter(run=run).delete()
    Wait.objects.filter(run=run, resolved_at__isnull=True).update(resolved_at=now)
    kind = {RunStatus.COMPLETED: HistoryKind.COMPLETED, RunStatus.FAILED: HistoryKind.FAILED}.get(
        status, HistoryKind.CANCELLED
    )
    history_append(
        run,
        kind,
        **({"output": output} if status == RunStatus.COMPLETED else {"error": error}),
        **history,
    )
    _emit_finished(run, status, output, error, fx)
    defers_schedule(run, fx)
    run_finished_observed(run)
    if run.parent_id:
        _resolve_parent(run, status, output, error)


def _emit_finished(run: Run, status: str, output, error, fx: Effects) -> None:
    trigger = run.event.as_sdk_payload()
    data = {
        "function_id": run.function.slug,
        "run_id": run.public_id,
        "event": trigger,
        "events": _events_payload(run, trigger),
        "_inngest": {"status": status.capitalize()},
    }
    if run.parent_id:
        data["correlation_id"] = f"{run.parent.public_id}.{run.parent_step_id}"
    if status == RunStatus.COMPLETED:
        data["result"] = output
    else:
        data["error"] = error
    # They carry the sessions of the event they report on, so the runs they start (onFailure)
    # stay in them, as Go's do (pkg/execution/executor/finalize.go).
    sessions = trigger.get("meta", {}).get("sessions")
    base = {"data": data, "meta": {"sessions": sessions} if sessions else {}}
    fx.emit(run.environment, {"name": "inngest/function.finished", **base})
    if status == RunStatus.FAILED:
        fx.emit(run.environment, {"name": "inngest/function.failed", "id": run.public_id, **base})
    if status == RunStatus.CANCELLED:
        fx.emit(
            run.environment, {"name": "inngest/function.cancelled", "id": run.public_id, **base}
        )


def _events_payload(run: Run, trigger: dict) -> list[dict]:
    """The run's events; only a batch has more than its triggering event (as in the call)."""
    if run.function.config.get("batchEvents"):
        return [e.as_sdk_payload() for e in run.events.order_by("id")]
    return [trigger]


def _resolve_parent(run: Run, status: str, output, error) -> None:
    """Hand an invoked run's result (or error) back to the step that invoked it."""
    parent = Run.objects.select_for_update().get(pk=run.parent_id)
    if parent.is_finished:
        return
    step = run_steps(parent).get(run.parent_step_id)
    if step is None or step.status != StepStatus.INVOKING:
        return
    failed = status != RunStatus.COMPLETED
    memo = {"error": error} if failed else {"data": output}
    step_resolve_pending(
        parent,
        step,
        memo,
        history_kind=HistoryKind.INVOKE_RESOLVED,
        failed=failed,
        child_run=run.public_id,
    )
    run_state_save(parent)
