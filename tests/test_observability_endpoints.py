"""/metrics (token or disabled), /health/live and /health/ready, the websocket client gauge."""

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.celery import app as celery_app
from controlplane.engine.invoke import function_invoke
from controlplane.observability.metrics import WEBSOCKET_CLIENTS
from controlplane.observability.websockets import count_websockets
from controlplane.registry.services import app_register
from tests.engine.harness import celery_broker_url
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db


def samples(response) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def test_metrics_are_off_unless_enabled(client, settings):
    settings.METRICS_ENABLED = False
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 200


def test_queue_depth_and_age_are_read_from_the_database(client, settings, world):
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, ""
    before = samples(client.get("/metrics"))
    assert before[("cp_queue_jobs", (("state", "due"),))] == 0
    assert before[("cp_queue_oldest_due_job_age_seconds", ())] == 0
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f")]),
        kind="out_of_band",
    )
    function_invoke(function=sync.app.functions.get(), data={})
    after = samples(client.get("/metrics"))
    assert after[("cp_queue_jobs", (("state", "due"),))] == 1
    assert after[("cp_queue_oldest_due_job_age_seconds", ())] > 0


def test_liveness_and_readiness_answer_before_anyone_signed_up(client):
    live = client.get("/health/live")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.content
    body = ready.json()
    assert body["status"] == "ok" and set(body["checks"]) == {"database", "channel_layer"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readiness_checks_the_broker_with_celery(client, settings, monkeypatch):
    settings.EXECUTOR_BACKEND = "celery"
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["down"] == ["broker"]
    assert body["checks"]["database"]["ok"] is True
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("no Redis for the reachable-broker half")
    monkeypatch.setattr(celery_app.conf, "broker_url", broker)
    assert client.get("/health/ready").json()["checks"]["broker"]["ok"] is True


@pytest.mark.parametrize("executor", ["local", "celery"])
def test_readiness_names_what_is_down_while_redis_is_stopped(
    client, settings, monkeypatch, redis_server, executor
):
    """One Redis as channel layer and (Celery) broker: stopped, it is named in a JSON 503;
    started again, readiness recovers."""
    settings.EXECUTOR_BACKEND = executor
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_server.url]},
        }
    }
    monkeypatch.setattr(celery_app.conf, "broker_url", redis_server.url)
    up = client.get("/health/ready")
    assert up.status_code == 200 and up.json()["status"] == "ok", up.content
    redis_server.kill()
    response = client.get("/health/ready")
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    body = response.json()
    expected = ["channel_layer", "broker"] if executor == "celery" else ["channel_layer"]
    assert body["status"] == "unavailable" and body["down"] == expected
    assert body["checks"]["database"]["ok"] is True
    assert set(body["checks"]) == {"database", *expected}
    redis_server.start()
    assert client.get("/health/ready").status_code == 200


def test_the_websocket_gauge_counts_open_connections():
    seen = []

    async def consumer(scope, receive, send):
        await send({"type": "websocket.accept"})
        seen.append(WEBSOCKET_CLIENTS._value.get())
        await receive()

    async def main():
        before = WEBSOCKET_CLIENTS._value.get()
        messages = asyncio.Queue()

        async def receive():
            return await messages.get()

        async def send(message):
            pass

        task = asyncio.create_task(count_websockets(consumer)({"type": "websocket"}, receive, send))
        await asyncio.sleep(0.01)
        await messages.put({"type": "websocket.disconnect"})
        await task
        return before, WEBSOCKET_CLIENTS._value.get()

    before, after = asyncio.run(main())
    assert seen == [before + 1] and after == before
