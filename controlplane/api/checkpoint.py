"""The checkpoint endpoint the TypeScript SDK posts to while it runs steps inside one call
(PROTOCOL.md 4.10), authenticated like /v0 with the environment's signing key."""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controlplane.api.auth import environment_from_bearer
from controlplane.api.responses import error_response
from controlplane.api.v1_base import ApiError, json_object_body
from controlplane.engine.checkpoint import (
    CheckpointRefused,
    async_checkpoint_parse,
    async_checkpoint_store,
)


@csrf_exempt
@require_POST
def checkpoint_async(request, run_id):
    environment = environment_from_bearer(request, allow_dev_mode=True)
    if environment is None:
        return error_response("Unauthorized: send the environment's signing key as bearer.", 401)
    try:
        checkpoint = async_checkpoint_parse(run_id, json_object_body(request))
        async_checkpoint_store(environment=environment, checkpoint=checkpoint)
    except (ApiError, CheckpointRefused) as exc:
        return error_response(exc.message, exc.status, data={"run_id": run_id})
    return JsonResponse({})


urlpatterns = [
    path("v1/checkpoint/<str:run_id>/async", checkpoint_async, name="sdk-checkpoint-async"),
]
