"""`POST /e/{event_key}` through Django's test client: auth, validation, filters, idempotency.

The ASGI body cap is tested against the real server in test_event_body_limit.py.
"""

import base64
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.events.models import Event
from controlplane.ids import is_ulid, seeded_ulids, ulid_milliseconds
from controlplane.keys.services import event_key_create, event_key_set_enabled, event_key_update
from controlplane.tenancy.services import (
    environment_create,
    environment_set_archived,
    environment_set_dev_mode,
)

pytestmark = pytest.mark.django_db

GOOD = {"name": "app/good"}


@pytest.fixture
def secret(world):
    _key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    return secret


def send(client, secret, body, *, raw=False, **headers):
    data = body if raw else json.dumps(body)
    response = client.post(
        f"/e/{secret}", data=data, content_type="application/json", headers=headers
    )
    return response.status_code, response.json()


def assert_refused(result, status, *fragments):
    code, body = result
    assert (code, body["status"], body["ids"]) == (status, status, [])
    for fragment in fragments:
        assert fragment in body["error"]
    assert not Event.objects.exists()


# --- Accepting events ---------------------------------------------------------------------


def test_it_stores_one_event_and_answers_its_ulid(client, world, secret):
    code, body = send(client, secret, {"name": "app/signup", "data": {"plan": "pro"}, "ts": 5})
    assert code == 200 and body["status"] == 200 and "error" not in body
    [event_id] = body["ids"]
    event = Event.objects.get()
    assert is_ulid(event_id) and event.public_id == event_id
    assert (event.environment, event.name, event.data, event.ts) == (
        world.prod_a,
        "app/signup",
        {"plan": "pro"},
        5,
    )
    assert event.source == "api" and event.event_key.name == "ci"
    assert event.event_key.last_used_at is not None


def test_it_stores_an_array_in_order_and_fills_in_defaults(client, world, secret):
    before = time.time_ns() // 1_000_000
    payload = [{"name": f"app/e{i}"} for i in range(3)] + [
        {"name": "app/full", "id": "k1", "user": {"id": 7}, "v": "2024-01-01.1", "meta": {}}
    ]
    code, body = send(client, secret, payload)
    assert code == 200 and len(body["ids"]) == 4
    events = {e.public_id: e for e in Event.objects.all()}
    assert [events[i].name for i in body["ids"]] == ["app/e0", "app/e1", "app/e2", "app/full"]
    first, full = events[body["ids"][0]], events[body["ids"][3]]
    assert (first.data, first.user, first.external_id, first.version) == ({}, {}, "", "")
    assert before <= first.ts <= time.time_ns() // 1_000_000
    assert full.as_sdk_payload() == {
        "name": "app/full",
        "data": {},
        "id": "k1",
        "ts": full.ts,
        "user": {"id": 7},
        "v": "2024-01-01.1",
    }


def test_it_drops_sender_supplied_internal_metadata(client, secret):
    send(client, secret, {"name": "app/x", "data": {"_inngest": {"fn_id": "forged"}, "a": 1}})
    assert Event.objects.get().data == {"a": 1}


def test_it_keeps_meta_with_the_sessions_a_run_propagated_folded_in(client, secret):
    meta = {
        "sessions": {"conversation": "c-1", "user": 7, "tenant": None},
        "propagated_sessions": {"conversation": "parent", "tenant": "t-1", "trace": "r-9"},
        "source": {"sdk": "js"},
    }
    send(client, secret, {"name": "app/x", "meta": meta})
    event = Event.objects.get()
    assert event.meta == {
        "sessions": {"conversation": "c-1", "user": "7", "trace": "r-9"},
        "source": {"sdk": "js"},
    }
    assert event.as_sdk_payload()["meta"] == event.meta


def test_an_event_without_meta_is_handed_on_without_it(client, secret):
    send(client, secret, {"name": "app/x", "meta": {"sessions": {}}})
    event = Event.objects.get()
    assert event.meta == {} and "meta" not in event.as_sdk_payload()


# --- Keys and environments ------------------------------------------------------------------


def test_unknown_and_disabled_keys_get_401(client, world, secret):
    assert_refused(send(client, "0" * 64, {"name": "app/x"}), 401, "Event key not found")
    key = world.prod_a.event_keys.get()
    event_key_set_enabled(event_key=key, actor=world.owner, enabled=False)
    assert_refused(send(client, secret, {"name": "app/x"}), 401, "disabled")


def test_it_refuses_other_methods(client, secret):
    response = client.get(f"/e/{secret}")
    assert response.status_code == 405 and response.json()["status"] == 405


def test_dev_mode_key_needs_a_dev_mode_environment(client, world):
    assert_refused(send(client, "NO_EVENT_KEY_SET", {"name": "app/x"}), 401, "dev-mode")
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    code, body = send(client, "NO_EVENT_KEY_SET", {"name": "app/x"})
    event = Event.objects.get()
    assert code == 200 and body["ids"] == [event.public_id]
    assert event.environment == world.dev_a and event.event_key is None


def test_dev_mode_takes_any_unknown_key_into_the_dev_mode_environment_only(client, world, secret):
    """As on Inngest's dev server, where apps and tests post to /e/key or /e/test-key-123."""
    for key in ("key", "test-key-123"):
        assert_refused(send(client, key, GOOD), 401, "Event key not found")
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    for key in ("key", "test-key-123", "0" * 64):
        code, body = send(client, key, {"name": "app/dev"}, **{"X-Inngest-Env": "production"})
        assert code == 200 and len(body["ids"]) == 1
    assert Event.objects.count() == 3
    assert {(e.environment, e.event_key) for e in Event.objects.all()} == {(world.dev_a, None)}
    # A key some environment has stays strict: it sends there, or is refused when disabled.
    _key_b, secret_b = event_key_create(environment=world.prod_b, actor=world.outsider, name="b")
    assert send(client, secret, GOOD)[0] == send(client, secret_b, GOOD)[0] == 200
    sent = Event.objects.filter(name=GOOD["name"]).values_list("environment", flat=True)
    assert sorted(sent) == sorted([world.prod_a.pk, world.prod_b.pk])
    key_a = world.prod_a.event_keys.get()
    event_key_set_enabled(event_key=key_a, actor=world.owner, enabled=False)
    code, body = send(client, secret, GOOD)
    assert (code, body["ids"]) == (401, []) and "disabled" in body["error"]
    assert Event.objects.count() == 5


def test_x_inngest_env_selects_an_environment_of_the_keys_organization(client, world, secret):
    code, body = send(client, secret, {"name": "app/x"}, **{"X-Inngest-Env": "development"})
    assert code == 200
    assert Event.objects.get(public_id=body["ids"][0]).environment == world.dev_a
    code, _ = send(client, secret, {"name": "app/x"}, **{"X-Inngest-Env": "production"})
    assert code == 200 and Event.objects.filter(environment=world.prod_a).count() == 1

    Event.objects.all().delete()
    environment_create(organization=world.org_b, actor=world.outsider, name="B only", kind="custom")
    for name in ("b-only", "no-such-env"):
        result = send(client, secret, {"name": "app/x"}, **{"X-Inngest-Env": name})
        assert_refused(result, 400, "X-Inngest-Env", name)


def test_archived_environments_accept_no_events(client, world, secret):
    staging = environment_create(
        organization=world.org_a, actor=world.owner, name="Staging", kind="custom"
    )
    _key, staging_secret = event_key_create(environment=staging, actor=world.owner, name="ci")
    environment_set_archived(environment=staging, actor=world.owner, archived=True)
    assert_refused(send(client, staging_secret, {"name": "app/x"}), 403, "“Staging” is archived")
    headers = {"X-Inngest-Env": "staging"}
    assert_refused(send(client, secret, {"name": "app/x"}, **headers), 403, "archived")


# --- Key filters -------------------------------------------------------------------------------


def set_filter(world, mode="none", events="", networks=""):
    key = world.prod_a.event_keys.get()
    event_key_update(
        event_key=key,
        actor=world.owner,
        name=key.name,
        mode=mode,
        events_text=events,
        networks_text=networks,
    )


def test_an_allowlist_refuses_the_whole_request_naming_the_blocked_events(client, world, secret):
    set_filter(world, mode="allow", events="app/ok")
    batch = [{"name": "app/ok"}, {"name": "app/no"}, {"name": "app/nope"}, {"name": "app/no"}]
    assert_refused(send(client, secret, batch), 403, "“app/no”, “app/nope”", "Nothing was stored")
    assert send(client, secret, [{"name": "app/ok"}])[0] == 200


def test_a_denylist_refuses_the_named_events(client, world, secret):
    set_filter(world, mode="deny", events="app/secret")
    assert_refused(send(client, secret, [{"name": "app/secret"}]), 403, "“app/secret”")
    assert send(client, secret, [{"name": "app/public"}])[0] == 200


def test_an_ip_allowlist_refuses_other_addresses(client, world, secret):
    set_filter(world, networks="10.0.0.0/8")

    def send_from(address):
        response = client.post(
            f"/e/{secret}", data=GOOD, content_type="application/json", REMOTE_ADDR=address
        )
        return response.status_code, response.json()

    assert_refused(send_from("192.168.1.5"), 403, "192.168.1.5")
    assert send_from("10.20.30.40")[0] == 200 and Event.objects.count() == 1


# --- Validation: all or nothing -------------------------------------------------------------


# Bodies refused with 400, and what the refusal says (tests/chaos sends them to a real server).
MALFORMED = [
    (b"{not json", ["not valid JSON"]),
    (b'"app/x"', ["event object or an array"]),
    (b"[]", ["no events"]),
    (b'[{"name": "app/x", "data": {"n": NaN}}]', ["NaN is not valid JSON"]),
    (b"\xff\xfe\xfa", ["not valid"]),
    (b"[" * 100_000 + b"]" * 100_000, ["nests too deeply"]),
    ([GOOD, "app/x"], ["index 1", "JSON object"]),
    ([GOOD, GOOD, {"data": {}}], ["index 2", "`name` is required"]),
    ([{"name": 42}], ["index 0", "`name`"]),
    ([{"name": "   "}], ["index 0", "`name`"]),
    ([{"name": "x" * 257}], ["longer than 256"]),
    ([GOOD, {"name": "inngest/function.finished"}], ["index 1", "reserved for internal"]),
    ([{"name": "app/x", "data": [1, 2]}], ["`data` must be a JSON object"]),
    ([{"name": "app/x", "data": "text"}], ["`data` must be a JSON object"]),
    ([{"name": "app/x", "ts": 1.5}], ["`ts` must be an integer"]),
    ([{"name": "app/x", "ts": "1700000000000"}], ["`ts` must be an integer"]),
    ([{"name": "app/x", "ts": True}], ["`ts` must be an integer"]),
    ([{"name": "app/x", "ts": -1}], ["`ts` is out of range"]),
    ([{"name": "app/x", "id": 12}], ["`id` must be a string"]),
    ([{"name": "app/x", "user": "me"}], ["`user` must be a JSON object"]),
    ([{"name": "app/x", "v": 2}], ["`v` must be a string"]),
    ([{"name": "app/x", "meta": [1]}], ["`meta` must be a JSON object"]),
    ([{"name": "app/x", "meta": {"sessions": "s1"}}], ["`meta.sessions` must be an object"]),
    ([{"name": "app/x", "meta": {"sessions": {"a": True}}}], ["“a” must be a string"]),
    ([{"name": "app/x", "meta": {"sessions": {"a": ""}}}], ["“a” needs an id"]),
    ([{"name": "app/x", "meta": {"sessions": dict.fromkeys("abcdef", "1")}}], ["at most 5"]),
    (b'[{"name": "app/x", "data": {"n": 1e400}}]', ["number out of range"]),
    (b'[{"name": "app/x", "data": {"s": "a\\u0000b"}}]', ["NUL character"]),
    (b'[{"name": "app/x", "data": {"s": "\\ud800"}}]', ["unpaired UTF-16 surrogate"]),
]


@pytest.mark.parametrize("body,fragments", MALFORMED)
def test_it_refuses_malformed_requests_and_stores_nothing(client, secret, body, fragments):
    raw = isinstance(body, bytes)
    assert_refused(send(client, secret, body, raw=raw), 400, *fragments)


def test_a_literal_backslash_u0000_is_just_text(client, secret):
    code, _ = send(client, secret, b'{"name": "app/x", "data": {"s": "\\\\u0000"}}', raw=True)
    assert code == 200 and Event.objects.get().data == {"s": "\\u0000"}


def test_it_refuses_too_many_or_too_large_events_with_413(client, secret):
    many = [{"name": "app/x"}] * 5_001
    assert_refused(send(client, secret, many), 413, "at most 5000 events")
    big = [GOOD, {"name": "app/x", "data": {"blob": "x" * (512 * 1024)}}]
    assert_refused(send(client, secret, big), 413, "index 1", "at most 524288")
    big_meta = [{"name": "app/x", "meta": {"trace": "x" * (512 * 1024)}}]
    assert_refused(send(client, secret, big_meta), 413, "index 0")
    assert send(client, secret, [{"name": "app/x"}] * 5_000)[0] == 200


def test_the_per_event_cap_is_a_setting_the_refusal_quotes(client, secret, settings):
    event = {"name": "app/x", "data": {"blob": "x" * 4000}}
    settings.EVENT_API_MAX_EVENT_BYTES = 2048
    assert_refused(send(client, secret, event), 413, "at most 2048 (EVENT_API_MAX_EVENT_BYTES)")
    settings.EVENT_API_MAX_EVENT_BYTES = 2 * 1024 * 1024
    mebibyte = {"name": "app/x", "data": {"blob": "x" * (1024 * 1024)}}
    assert send(client, secret, mebibyte)[0] == 200


# --- Idempotency ------------------------------------------------------------------------------


def test_an_id_seen_within_24_hours_answers_the_original_and_stores_nothing(client, secret):
    _, first = send(client, secret, {"name": "app/x", "id": "order-1"})
    _, again = send(client, secret, [{"name": "app/y"}, {"name": "app/x", "id": "order-1"}])
    assert again["ids"][1] == first["ids"][0]
    assert Event.objects.filter(external_id="order-1").count() == 1

    Event.objects.filter(external_id="order-1").update(
        received_at=timezone.now() - timedelta(hours=25)
    )
    _, later = send(client, secret, {"name": "app/x", "id": "order-1"})
    assert later["ids"][0] != first["ids"][0]
    assert Event.objects.filter(external_id="order-1").count() == 2


def test_the_same_id_twice_in_one_request_is_stored_once(client, secret):
    _, body = send(client, secret, [{"name": "app/x", "id": "k"}, {"name": "app/x", "id": "k"}])
    assert body["ids"][0] == body["ids"][1] and Event.objects.count() == 1


def test_ids_are_scoped_to_the_environment(client, world, secret):
    _, prod = send(client, secret, {"name": "app/x", "id": "k"})
    _, dev = send(client, secret, {"name": "app/x", "id": "k"}, **{"X-Inngest-Env": "development"})
    assert prod["ids"] != dev["ids"] and Event.objects.count() == 2


def seed_header(millis=1_743_130_137_367, entropy=b"\x01" * 6 + b"\xff\xff\xff\xfe"):
    return f"{millis},{base64.b64encode(entropy).decode()}"


def test_a_seeded_request_gets_go_compatible_ulids_and_a_retry_stores_nothing_new(client, secret):
    seed = seed_header()
    batch = [{"name": "app/a"}, {"name": "app/b"}, {"name": "app/c"}]
    _, body = send(client, secret, batch, **{"X-Inngest-Event-Id-Seed": seed})
    assert body["ids"] == seeded_ulids(seed, 3)
    # ULID(ms, entropy) with the 1-based index added to the last 4 bytes, wrapping at 2**32.
    entropies = [b"\x01" * 6 + tail for tail in (b"\xff\xff\xff\xff", b"\0\0\0\0", b"\0\0\0\1")]
    for ulid, entropy in zip(body["ids"], entropies, strict=True):
        assert ulid_milliseconds(ulid) == 1_743_130_137_367
        assert decode_entropy(ulid) == entropy
    _, retry = send(client, secret, batch, **{"X-Inngest-Event-Id-Seed": seed})
    assert retry["ids"] == body["ids"] and Event.objects.count() == 3


def decode_entropy(ulid: str) -> bytes:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in ulid:
        value = value * 32 + alphabet.index(char)
    return (value & ((1 << 80) - 1)).to_bytes(10, "big")


@pytest.mark.parametrize(
    "seed", ["", "abc", "12,notbase64!", "12,AAAA", "-5,AQEBAQEBAQEBAQ==", "x,y"]
)
def test_a_malformed_seed_is_ignored(client, secret, seed):
    _, first = send(client, secret, {"name": "app/x"}, **{"X-Inngest-Event-Id-Seed": seed})
    _, second = send(client, secret, {"name": "app/x"}, **{"X-Inngest-Event-Id-Seed": seed})
    assert first["ids"] != second["ids"] and Event.objects.count() == 2
