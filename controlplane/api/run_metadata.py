"""The endpoints the TypeScript SDK sends run metadata and spans to, authenticated like /v0
with the environment's signing key: `inngest.metadata.*`, `inngest.score` outside a step (and
a scorer's score of its parent run), the SDK's warnings."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.api.v1_base import ApiError, json_object_body
from controlplane.ids import is_ulid
from controlplane.runs.metadata import MetadataRefused, parse_request, run_metadata_update


@csrf_exempt
@require_POST
def run_metadata(request, run_id):
    environment = environment_from_bearer(request, allow_dev_mode=True)
    if environment is None:
        return error_response("Unauthorized: send the environment's signing key as bearer.", 401)
    if not is_ulid(run_id):
        return error_response("The run id must be a ULID.", 400)
    try:
        update = parse_request(run_id, json_object_body(request))
        run_metadata_update(environment=environment, run_id=run_id.upper(), request=update)
    except (ApiError, MetadataRefused) as exc:
        return error_response(exc.message, exc.status)
    return JsonResponse({})


@csrf_exempt
def userland_traces(request):
    """Spans the SDK exports (OTLP over HTTP) once an app enables extended traces: not kept
    here yet, and said so rather than a bare 404."""
    return error_response(
        "This server does not accept exported spans (/v1/traces/userland) yet; "
        "metadata, scores and AI attributes of steps are kept without them.",
        501,
    )


urlpatterns = [
    path("v1/runs/<str:run_id>/metadata", run_metadata, name="sdk-run-metadata"),
    path("v1/traces/userland", userland_traces, name="sdk-traces-userland"),
]
