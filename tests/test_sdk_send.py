"""The official SDKs, unmodified and in cloud mode with a real event key, send events here."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import inngest
import pytest

from controlplane.events.models import Event
from controlplane.ids import ulid_milliseconds
from controlplane.keys.services import event_key_create, event_key_set_enabled
from tests.sdk_apps.processes import run_ts_script

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def key_and_secret(world):
    return event_key_create(environment=world.prod_a, actor=world.owner, name="sdk")


def python_client(live_server_url, secret) -> inngest.Inngest:
    return inngest.Inngest(
        app_id="py-sender",
        is_production=True,
        event_key=secret,
        event_api_base_url=live_server_url,
        logger=None,
    )


def test_the_python_sdk_sends_events_and_reads_back_the_ids(live_server_url, key_and_secret):
    key, secret = key_and_secret
    client = python_client(live_server_url, secret)
    ids = client.send_sync(
        [
            inngest.Event(name="py/order.paid", data={"order": 7}),
            inngest.Event(name="py/order.paid", data={"order": 8}, id="order-8"),
        ]
    )
    events = {e.public_id: e for e in Event.objects.all()}
    assert len(ids) == 2 and set(ids) == set(events)
    assert [events[i].data for i in ids] == [{"order": 7}, {"order": 8}]
    assert all(e.event_key == key and e.source == "api" for e in events.values())
    # The SDK's X-Inngest-Event-Id-Seed decides the ids: they carry its send time.
    assert abs(ulid_milliseconds(ids[0]) - events[ids[0]].ts) < 60_000

    # The async `send` too; in a thread of its own, as Playwright may own this one's loop.
    with ThreadPoolExecutor(1) as pool:
        again = pool.submit(
            asyncio.run, client.send(inngest.Event(name="py/order.paid", id="order-8"))
        ).result()
    assert again == [ids[1]] and Event.objects.count() == 2


def test_the_python_sdk_reports_our_errors(live_server_url, world, key_and_secret):
    key, secret = key_and_secret
    client = python_client(live_server_url, secret)
    # The SDK raises its (unexported) SendEventsError with our message.
    with pytest.raises(Exception, match="reserved for internal events") as info:
        client.send_sync(inngest.Event(name="inngest/function.finished"))
    assert type(info.value).__name__ == "SendEventsError"
    event_key_set_enabled(event_key=key, actor=world.owner, enabled=False)
    with pytest.raises(Exception, match="disabled"):
        client.send_sync(inngest.Event(name="py/x"))
    assert not Event.objects.exists()


def ts_send(live_server_url, secret, payload) -> dict:
    env = {"INNGEST_DEV": "0", "INNGEST_EVENT_KEY": secret, "INNGEST_BASE_URL": live_server_url}
    return json.loads(run_ts_script("send.mjs", env, json.dumps(payload)))


def test_the_ts_sdk_sends_events_and_reads_back_the_ids(live_server_url, key_and_secret):
    key, secret = key_and_secret
    out = ts_send(
        live_server_url,
        secret,
        [{"name": "ts/signup", "data": {"plan": "pro"}}, {"name": "ts/signup", "id": "u-1"}],
    )
    assert out["ok"], out
    ids = out["result"]["ids"]
    events = {e.public_id: e for e in Event.objects.all()}
    assert len(ids) == 2 and set(ids) == set(events)
    assert [events[i].data for i in ids] == [{"plan": "pro"}, {}]
    assert events[ids[1]].external_id == "u-1" and events[ids[0]].event_key == key

    again = ts_send(live_server_url, secret, {"name": "ts/signup", "id": "u-1"})
    assert again["ok"] and again["result"]["ids"] == [ids[1]] and Event.objects.count() == 2


def test_the_ts_sdk_reports_our_errors(live_server_url, key_and_secret):
    _key, secret = key_and_secret
    out = ts_send(live_server_url, secret, {"name": "ts/x", "data": "not an object"})
    assert not out["ok"] and "`data` must be a JSON object" in out["error"]
    assert not Event.objects.exists()
