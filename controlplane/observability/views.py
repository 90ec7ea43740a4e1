"""Machine endpoints for operators: /metrics (Prometheus) and /health/live, /health/ready."""

import asyncio
import hmac
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from controlplane.api.auth import bearer_token
from controlplane.api.responses import error_response
from controlplane.observability.metrics import exposition

log = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 2


@require_GET
def metrics(request):
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are disabled (METRICS_ENABLED).")
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(bearer_token(request).encode(), token.encode()):
        return error_response("Unauthorized: send METRICS_TOKEN as bearer.", 401)
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)


@require_GET
def live(request):
    """The process answers: nothing else is checked (a restart would not fix a database)."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def _channel_roundtrip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel("health.")
    await layer.send(channel, {"type": "health.ping"})
    message = await asyncio.wait_for(layer.receive(channel), CHECK_TIMEOUT_SECONDS)
    assert message["type"] == "health.ping"


def _broker() -> None:
    from controlplane.celery import app

    with app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


def _run(name: str, check) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:
        log.warning("readiness check %s failed", name, exc_info=True)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}


@require_GET
def ready(request):
    """Ready to serve: the database answers, the channel layer carries a message, and (Celery
    backend) the broker accepts a connection. 503 naming what is down otherwise."""
    checks = {"database": _database, "channel_layer": async_to_sync(_channel_roundtrip)}
    if settings.EXECUTOR_BACKEND == "celery":
        checks["broker"] = _broker
    results = {name: _run(name, check) for name, check in checks.items()}
    down = [name for name, result in results.items() if not result["ok"]]
    return JsonResponse(
        {"status": "unavailable" if down else "ok", "down": down, "checks": results},
        status=503 if down else 200,
    )
