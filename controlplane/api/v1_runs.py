"""The REST API's run endpoints, in Inngest's v1 shapes: `{"data": ...}`."""

from django.urls import path

from controlplane.api.v1_base import (
    PAGE_PARAMS,
    ApiError,
    iso,
    item_response,
    list_response,
    page_limit,
    v1_endpoint,
)
from controlplane.api.v1_events import event_or_error
from controlplane.engine.actions import ReplayRefused, run_cancel_by, run_replay
from controlplane.ids import is_ulid
from controlplane.runs.models import Run, RunHistory, RunMetadata, RunStatus, Step, StepStatus
from controlplane.runs.selectors import (
    metadata_of,
    run_defer_links,
    run_in_environment,
    runs_of_event,
    step_attempts,
    steps_page,
)

# Inngest's REST API speaks four run statuses; sleeping and waiting runs are running.
_STATUS = {
    RunStatus.COMPLETED: "Completed",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Cancelled",
}
_ATTEMPT_STATUS = {"step_completed": "completed", "step_failed": "failed"}


def run_json(run: Run) -> dict:
    return {
        "run_id": run.public_id,
        "status": _STATUS.get(run.status, "Running"),
        "output": run.output if run.status == RunStatus.COMPLETED else run.error,
        "function_id": run.function.slug,
        "event_id": run.event.public_id,
        "run_started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


def metadata_json(entry: RunMetadata) -> dict:
    return {
        "scope": entry.scope,
        "step_id": entry.step_id or None,
        "step_name": entry.step_name or None,
        "span_id": entry.span_id or None,
        "kind": entry.kind,
        "values": entry.values,
        "attempt": entry.attempt,
        "updated_at": iso(entry.updated_at),
    }


def _attempt_json(row: RunHistory) -> dict:
    return {
        "attempt": row.attempt,
        "status": _ATTEMPT_STATUS.get(row.kind, "errored"),
        "error": row.data.get("error"),
        "at": iso(row.created_at),
    }


def step_json(step: Step, attempts: list[RunHistory]) -> dict:
    """One step: the SDK's hashed id, the user's name, and its result or error once it has one."""
    failed = step.status == StepStatus.FAILED
    return {
        "step_id": step.step_id,
        "name": step.name,
        "kind": step.kind,
        "status": step.get_status_display(),
        "attempts": [_attempt_json(row) for row in attempts],
        "output": _output(step),
        "error": step.memo.get("error") if failed and isinstance(step.memo, dict) else None,
        "started_at": iso(step.started_at),
        "ended_at": iso(step.ended_at),
    }


def _output(step: Step):
    if step.status != StepStatus.COMPLETED:
        return None
    if isinstance(step.memo, dict) and "data" in step.memo:
        return step.memo["data"]
    return step.memo  # a legacy `Step` op memoizes the value itself; a sleep, null


def _run_or_error(request, run_id: str) -> Run:
    if not is_ulid(run_id):
        raise ApiError("The run id must be a ULID.")
    run = run_in_environment(environment=request.environment, public_id=run_id.upper())
    if run is None:
        raise ApiError("Run not found.", 404)
    return run


@v1_endpoint(GET=False)
def event_runs(request, event_id):
    """Every run the event started (one per function it triggered: a short, bounded list)."""
    event = event_or_error(request, event_id)
    runs = runs_of_event(environment=request.environment, event=event)
    return list_response([run_json(run) for run in runs], cursor=None)


@v1_endpoint(GET=False, DELETE=True)
def run_detail(request, run_id):
    run = _run_or_error(request, run_id)
    if request.method == "DELETE":
        run_cancel_by(run=run, reason=f"Cancelled through the API ({request.principal.label}).")
        run.refresh_from_db()
    links = run_defer_links(run)
    return item_response(
        run_json(run)
        | {
            "defers": [
                {
                    "id": defer.hashed_id,
                    "name": defer.name,
                    "function_id": defer.function_slug,
                    "status": defer.status,
                    "reason": defer.reason or None,
                    "run_id": child.public_id if child else None,
                }
                for defer, child in links.defers
            ],
            "deferred_from": links.parent.public_id if links.parent else None,
            "metadata": [metadata_json(entry) for entry in metadata_of(run)],
        }
    )


@v1_endpoint(POST=True)
def run_replay_view(request, run_id):
    """Start a replay of a finished run: `{"data": {"run_id": <the new run>, ...}}`."""
    run = _run_or_error(request, run_id)
    try:
        replay = run_replay(run=run)
    except ReplayRefused as refused:
        raise ApiError(str(refused), 409) from None
    return item_response(run_json(replay) | {"replay_of": run.public_id})


@v1_endpoint(GET=False, query=PAGE_PARAMS)
def run_steps(request, run_id):
    """The run's step history in the order the steps first appeared, with every attempt."""
    run = _run_or_error(request, run_id)
    cursor = request.GET.get("cursor") or None
    page = steps_page(run=run, after=cursor, limit=page_limit(request))
    if page is None:
        raise ApiError("`cursor` names no step of this run.")
    attempts = step_attempts(run=run, step_ids=[s.step_id for s in page.steps])
    steps = [step_json(s, attempts.get(s.step_id, [])) for s in page.steps]
    return list_response(steps, cursor=page.next_after)


urlpatterns = [
    path("v1/events/<str:event_id>/runs", event_runs, name="v1-event-runs"),
    path("v1/runs/<str:run_id>", run_detail, name="v1-run"),
    path("v1/runs/<str:run_id>/steps", run_steps, name="v1-run-steps"),
    path("v1/runs/<str:run_id>/replay", run_replay_view, name="v1-run-replay"),
]
