"""What SDKs fetch when a request came with `use_api` (PROTOCOL.md 4.7)."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.runs.selectors import memoized_steps, run_in_environment


def _run_or_error(request, run_id):
    environment = environment_from_bearer(request, allow_dev_mode=True)
    if environment is None:
        return None, error_response(
            "Unauthorized: send the environment's signing key as bearer.", 401
        )
    run = run_in_environment(environment=environment, public_id=run_id)
    if run is None:
        return None, error_response("Run not found.", 404)
    return run, None


@require_GET
def run_batch(request, run_id):
    run, error = _run_or_error(request, run_id)
    if error:
        return error
    return JsonResponse([e.as_sdk_payload() for e in run.events.order_by("id")], safe=False)


@require_GET
def run_actions(request, run_id):
    run, error = _run_or_error(request, run_id)
    if error:
        return error
    steps, _stack = memoized_steps(run)
    return JsonResponse(steps)


urlpatterns = [
    path("v0/runs/<str:run_id>/batch", run_batch, name="v0-run-batch"),
    path("v0/runs/<str:run_id>/actions", run_actions, name="v0-run-actions"),
]
