"""The REST API's run endpoints, in Inngest's v1 shapes: `{"data": ...}`."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.engine.actions import run_cancel_by
from controlplane.events.models import Event
from controlplane.runs.models import Run, RunStatus
from controlplane.runs.selectors import run_in_environment, runs_of_event

# Inngest's REST API speaks four run statuses; sleeping and waiting runs are running.
_STATUS = {
    RunStatus.COMPLETED: "Completed",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Cancelled",
}


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


def _environment(request):
    environment = environment_from_bearer(request)
    if environment is None:
        return None, error_response(
            "Unauthorized: send a signing key as `Authorization: Bearer ...`.", 401
        )
    return environment, None


def event_runs(request, event_id):
    if request.method != "GET":
        return error_response("Method not allowed.", 405)
    environment, error = _environment(request)
    if error:
        return error
    event = Event.objects.filter(environment=environment, public_id=event_id).first()
    if event is None:
        return error_response("Event not found.", 404)
    return JsonResponse(
        {"data": [run_json(run) for run in runs_of_event(environment=environment, event=event)]}
    )


@csrf_exempt
def run_detail(request, run_id):
    if request.method not in ("GET", "DELETE"):
        return error_response("Method not allowed.", 405)
    environment, error = _environment(request)
    if error:
        return error
    run = run_in_environment(environment=environment, public_id=run_id)
    if run is None:
        return error_response("Run not found.", 404)
    if request.method == "DELETE":
        run_cancel_by(run=run, reason="Cancelled through the API.")
        run.refresh_from_db()
    return JsonResponse({"data": run_json(run)})


urlpatterns = [
    path("v1/events/<str:event_id>/runs", event_runs, name="v1-event-runs"),
    path("v1/runs/<str:run_id>", run_detail, name="v1-run"),
]
