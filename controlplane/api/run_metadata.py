"""The endpoints the TypeScript SDK sends run metadata and spans to, authenticated like /v0
with the environment's signing key: `inngest.metadata.*`, `inngest.score` outside a step (and
a scorer's score of its parent run), the SDK's warnings, and the spans of extended traces."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.api.v1_base import ApiError, json_object_body
from controlplane.ids import is_ulid
from controlplane.runs.metadata import MetadataRefused, parse_request, run_metadata_update
from controlplane.runs.spans import SpansRefused, parse_export, spans_store


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
@require_POST
def userland_traces(request):
    """Spans the SDK exports (OTLP over HTTP, JSON) once an app enables extended traces. Answers
    OTLP's partial success: how many spans were not kept (no run of this environment, past a
    run's bound)."""
    environment = environment_from_bearer(request, allow_dev_mode=True)
    if environment is None:
        return error_response("Unauthorized: send the environment's signing key as bearer.", 401)
    if request.content_type != "application/json":
        return error_response("Send spans as OTLP/JSON (Content-Type: application/json).", 415)
    try:
        spans, without_run = parse_export(json_object_body(request))
    except (ApiError, SpansRefused) as exc:
        return error_response(exc.message, exc.status)
    rejected = without_run + spans_store(environment=environment, spans=spans)
    if not rejected:
        return JsonResponse({})
    message = "Spans of no run of this environment, or past a run's bound, are not kept."
    return JsonResponse({"partialSuccess": {"rejectedSpans": rejected, "errorMessage": message}})


urlpatterns = [
    path("v1/runs/<str:run_id>/metadata", run_metadata, name="sdk-run-metadata"),
    path("v1/traces/userland", userland_traces, name="sdk-traces-userland"),
]
