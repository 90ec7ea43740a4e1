"""`POST /fn/register`: an app registers its functions (PROTOCOL.md 2.3, out-of-band sync).

The bearer token decides the environment. A registration without one (Python in dev mode sends
no header, TS sends `Bearer undefined` or a bare `Bearer`) goes to the server's dev-mode
environment when one is marked; an unknown bearer is refused with 401 even then, so a cloud app
with a wrong key is told so (and the SDK retries with its fallback key) instead of silently
landing in the dev-mode environment.

Answers are shaped for both SDKs: Python relays the body (with HTTP 200, whatever happened),
TS reads `status`, `error` and `modified` from the body.
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from controlplane.api.responses import error_response
from controlplane.api.v1_base import ApiError, json_object_body
from controlplane.keys.selectors import environment_for_bearer
from controlplane.registry.models import SyncKind
from controlplane.registry.services import app_register
from controlplane.tenancy.models import Environment
from controlplane.tenancy.services import environment_ensure_dev_mode

UNSIGNED_TOKENS = {"", "undefined", "null"}


def _environment(request) -> Environment | None:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme and scheme.lower() != "bearer":
        return None
    token = token.strip()
    if token in UNSIGNED_TOKENS:
        return environment_ensure_dev_mode()
    return environment_for_bearer(token)


@csrf_exempt
@require_POST
def register(request):
    environment = _environment(request)
    if environment is None:
        return error_response(
            "Unknown signing key: set INNGEST_SIGNING_KEY to a signing key of this server's "
            "environment, or INNGEST_DEV=1 to use its dev-mode environment.",
            401,
        )
    try:
        payload = json_object_body(request)  # 400 for bad JSON, 413 past the upload limit
    except ApiError as exc:
        return error_response(f"The registration: {exc.message}", exc.status)
    sync = app_register(
        environment=environment,
        payload=payload,
        kind=SyncKind.OUT_OF_BAND,
        sync_id=request.GET.get("deployId") or payload.get("deployId"),
    )
    if not sync.succeeded:
        return error_response(sync.error, 400, sync_id=sync.public_id)
    return JsonResponse(
        {
            "ok": True,
            "modified": sync.modified,
            "status": 200,
            "sync_id": sync.public_id,
            "app_id": sync.app.app_id,
        }
    )
