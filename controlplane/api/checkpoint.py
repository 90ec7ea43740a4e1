"""The checkpoint endpoints of the TypeScript SDK (PROTOCOL.md 4.10), authenticated like /v0 with
the environment's signing key: async checkpointing of a call in flight, the sync checkpoints of
durable endpoints (a new run, then its steps), and the run output a durable endpoint's caller is
redirected to (authenticated by the token the new run was given)."""

import asyncio
import json
import time

from asgiref.sync import sync_to_async
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.api.v1_base import ApiError, json_object_body
from controlplane.engine.checkpoint import (
    CheckpointRefused,
    async_checkpoint_parse,
    async_checkpoint_store,
    parse_checkpoint_ops,
)
from controlplane.engine.endpoints import (
    endpoint_run_start,
    endpoint_steps_store,
    new_run_parse,
    output_token,
    output_token_run,
    stream_token,
)
from controlplane.runs.models import Run, RunStatus

OUTPUT_WAIT_SECONDS = 300  # as Inngest: a caller waits at most this long for a run to end
OUTPUT_POLL_SECONDS = 0.5
UNAUTHORIZED = "Unauthorized: send the environment's signing key as bearer."


def _environment(request):
    return environment_from_bearer(request, allow_dev_mode=True)


@csrf_exempt
@require_POST
def checkpoint_async(request, run_id):
    environment = _environment(request)
    if environment is None:
        return error_response(UNAUTHORIZED, 401)
    try:
        checkpoint = async_checkpoint_parse(run_id, json_object_body(request))
        async_checkpoint_store(environment=environment, checkpoint=checkpoint)
    except (ApiError, CheckpointRefused) as exc:
        return error_response(exc.message, exc.status, data={"run_id": run_id})
    return JsonResponse({})


@csrf_exempt
@require_POST
def checkpoint_new_run(request):
    environment = _environment(request)
    if environment is None:
        return error_response(UNAUTHORIZED, 401)
    try:
        checkpoint = new_run_parse(json_object_body(request))
        run = endpoint_run_start(environment=environment, sdk=_sdk(request), checkpoint=checkpoint)
    except (ApiError, CheckpointRefused) as exc:
        return error_response(exc.message, exc.status)
    data = {
        "run_id": run.public_id,
        "fn_id": str(run.function.public_id),
        "app_id": str(run.function.app.public_id),
        "token": output_token(run),
        "realtime_token": stream_token(run),
    }
    return JsonResponse({"data": data})


def _sdk(request) -> str:
    """ "inngest-js:v4.24.0" as apps list SDKs: "js:v4.24.0"."""
    return request.headers.get("X-Inngest-SDK", "").removeprefix("inngest-")[:64]


@csrf_exempt
@require_POST
def checkpoint_steps(request, run_id):
    environment = _environment(request)
    if environment is None:
        return error_response(UNAUTHORIZED, 401)
    try:
        body = json_object_body(request)
        if body.get("run_id") != run_id:
            raise CheckpointRefused("`run_id` must be the run of the URL.")
        ops = parse_checkpoint_ops(body.get("steps"), allowed=None)
        endpoint_steps_store(
            environment=environment, run_id=run_id, fn_id=body.get("fn_id"), ops=ops
        )
    except (ApiError, CheckpointRefused) as exc:
        return error_response(exc.message, exc.status, data={"run_id": run_id})
    return JsonResponse({})


@require_GET
async def checkpoint_output(request, run_id):
    """The run's answer once it has ended (a durable endpoint's response as its route gave it),
    waiting up to OUTPUT_WAIT_SECONDS; after that `{"status": "running"}`."""
    run = await sync_to_async(output_token_run)(request.GET.get("token", ""), run_id)
    if run is None:
        return error_response("Unable to find run with auth token.", 401)
    deadline = time.monotonic() + OUTPUT_WAIT_SECONDS
    while not run.is_finished and time.monotonic() < deadline:
        await asyncio.sleep(OUTPUT_POLL_SECONDS)
        run = await Run.objects.aget(pk=run.pk)
    if not run.is_finished:
        return JsonResponse({"status": "running", "message": "The run did not end in time."})
    return _run_answer(run)


def _run_answer(run: Run) -> HttpResponse:
    result = run.output if run.status == RunStatus.COMPLETED else None
    if isinstance(result, dict) and isinstance(result.get("status"), int) and result["status"] > 0:
        response = HttpResponse(result.get("body") or "", status=result["status"])
        for name, value in (result.get("headers") or {}).items():
            if isinstance(value, str) and name.lower() not in (
                "content-length",
                "transfer-encoding",
            ):
                response[name] = value
        return response
    if run.status == RunStatus.COMPLETED:
        return HttpResponse(json.dumps(result), content_type="application/json")
    return JsonResponse({"status": run.status, "error": run.error}, status=500)


urlpatterns = [
    path("v1/checkpoint", checkpoint_new_run, name="sdk-checkpoint-new-run"),
    path("v1/checkpoint/<str:run_id>/steps", checkpoint_steps, name="sdk-checkpoint-steps"),
    path("v1/checkpoint/<str:run_id>/async", checkpoint_async, name="sdk-checkpoint-async"),
    path("v1/checkpoint/<str:run_id>/output", checkpoint_output, name="sdk-checkpoint-output"),
    # The path the SDK redirects a caller to (Inngest's prefix from before "checkpoint").
    path("v1/http/runs/<str:run_id>/output", checkpoint_output, name="sdk-http-run-output"),
]
