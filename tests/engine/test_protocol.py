"""The wire format and response classification, against the shapes in PROTOCOL.md 4."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.engine.backoff import TABLE, retry_delay
from controlplane.engine.client import classify, step_url
from controlplane.engine.protocol import (
    Op,
    parse_duration,
    parse_ops,
    request_body,
    sleep_until,
    unwrap_streamed,
)
from controlplane.keys.signatures import sign_response

KEY = "signkey-test-" + "ab" * 32
SDK = {"x-inngest-sdk": "inngest-py:v0.5.19", "x-inngest-req-version": "2"}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("90s", 90),
        ("1h30m", 5400),
        ("1w2d", 8 * 86400 + 86400),
        ("500ms", 0.5),
        ("2m", 120),
        ("1.5h", 5400),
    ],
)
def test_it_parses_go_style_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "1x", "h1", "1h 30m", "-5s"])
def test_it_rejects_malformed_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_sleeps_wake_at_a_duration_or_an_absolute_time():
    assert sleep_until(Op(op="Sleep", id="x", name="1s"), NOW) == NOW + timedelta(seconds=1)
    python_style = Op(op="Sleep", id="x", name="2026-11-25T15:48:52.544Z")
    assert sleep_until(python_style, NOW) == datetime(2026, 11, 25, 15, 48, 52, 544000, tzinfo=UTC)
    spec_style = Op(op="Sleep", id="x", name="ignored", opts={"duration": "2h"})
    assert sleep_until(spec_style, NOW) == NOW + timedelta(hours=2)


def test_it_reads_ops_and_ignores_unknown_fields():
    ops = parse_ops(
        [
            {
                "op": "StepRun",
                "id": "a1",
                "displayName": "fetch",
                "data": {"x": 1},
                "timing": {"a": 1},
            },
            {
                "op": "StepPlanned",
                "id": "b2",
                "opts": {"parallelMode": "race"},
                "userland": {"id": "b"},
            },
        ]
    )
    assert ops[0] == Op(op="StepRun", id="a1", display_name="fetch", data={"x": 1})
    assert ops[1].is_race and ops[1].user_name == "b2"
    assert parse_ops({"op": "Sleep", "id": "s", "name": "1s"})[0].op == "Sleep"
    with pytest.raises(ValueError):
        parse_ops([{"id": "no-op"}])


def test_the_request_body_has_what_the_strict_python_sdk_requires():
    event = {"name": "a", "data": {}, "id": "01J", "ts": 1, "user": {}}
    body = request_body(
        run_id="01RUN",
        events=[event],
        steps={"h": {"data": 1}},
        stack=["h"],
        attempt=0,
        max_attempts=5,
        disable_immediate_execution=False,
        version=-1,
        step_id="step",
        job_id="42",
        request_id="01REQ",
        fn_id="01FN",
        qi_id="7",
    )
    assert body["event"] == event and body["events"] == [event] and body["use_api"] is False
    ctx = body["ctx"]
    assert ctx["stack"] == {"stack": ["h"], "current": 1}
    assert ctx["attempt"] == 0 and ctx["max_attempts"] == 5
    assert ctx["job_id"] == "42" and ctx["request_id"] == "01REQ"
    # Both switch TS v4 to async checkpointing; it quotes them back in each checkpoint.
    assert ctx["fn_id"] == "01FN" and ctx["qi_id"] == "7"
    assert body["defers"] == {}  # none stored yet
    large = request_body(
        run_id="01RUN",
        events=[event],
        steps={"h": 1},
        stack=["h"],
        attempt=0,
        max_attempts=5,
        disable_immediate_execution=False,
        version=2,
        step_id="step",
        job_id="42",
        request_id="01REQ",
        fn_id="01FN",
        qi_id="7",
        defers={"d1": {"abortable": True}},
        use_api=True,
    )
    assert large["events"] == [] and large["steps"] == {} and large["event"] == event
    assert large["defers"] == {"d1": {"abortable": True}}
    assert large["use_api"] is True and large["ctx"]["use_api"] is True


def test_it_sets_the_step_id_on_the_registered_url():
    url = "http://app.test/api/inngest?fnId=app-flow&stepId=step&keep=1"
    assert step_url(url, "abc") == "http://app.test/api/inngest?fnId=app-flow&keep=1&stepId=abc"


def test_it_classifies_answers():
    done = classify(200, SDK, b'{"ok": true}', verification_keys=None)
    assert (done.kind, done.output, done.sdk_version) == ("done", {"ok": True}, 2)
    ops = classify(206, SDK, b'[{"op": "StepRun", "id": "x", "data": 1}]', verification_keys=None)
    assert ops.kind == "ops" and ops.ops[0].data == 1
    assert classify(200, SDK, b"", verification_keys=None).output is None


@pytest.mark.parametrize(
    "status,headers,retriable",
    [
        (500, {}, True),  # Python plain exception
        (500, {"x-inngest-no-retry": "true"}, False),  # Python NonRetriableError
        (400, {"x-inngest-no-retry": "true"}, False),  # TS NonRetriableError
        (500, {"x-inngest-no-retry": "false"}, True),  # TS plain error
        (400, {}, False),
    ],
)
def test_it_decides_what_to_retry_like_the_go_server(status, headers, retriable):
    outcome = classify(
        status, {**SDK, **headers}, b'{"name": "Error", "message": "boom"}', verification_keys=None
    )
    assert outcome.kind == "error" and outcome.retriable is retriable
    # Inngest's StandardError: what onFailure handlers read from inngest/function.failed.
    assert outcome.error == {
        "error": f"invalid status code: {status}",
        "name": "Error",
        "message": "boom",
    }


def test_an_sdk_error_body_keeps_its_stack_and_drops_its_code():
    python_style = b'{"code": "unknown", "message": "boom", "name": "ValueError", "stack": "tb"}'
    outcome = classify(500, SDK, python_style, verification_keys=None)
    assert outcome.error == {
        "error": "invalid status code: 500",
        "name": "ValueError",
        "message": "boom",
        "stack": "tb",
    }
    not_json = classify(500, SDK, b"it broke", verification_keys=None).error
    assert not_json["error"] == "invalid status code: 500" and "it broke" in not_json["message"]


def test_answers_not_from_an_sdk_are_retried():
    outcome = classify(
        502, {"content-type": "text/html"}, b"<html>Bad gateway</html>", verification_keys=None
    )
    assert outcome.retriable and "without an Inngest SDK" in outcome.error["message"]
    assert classify(404, {}, b"not found", verification_keys=None).retriable


def test_retry_after_is_read_in_both_sdk_forms_and_clamped():
    ts = classify(500, {**SDK, "retry-after": "30"}, b"{}", verification_keys=None).retry_after
    assert timedelta(seconds=29) < ts - datetime.now(UTC) <= timedelta(seconds=30)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    py = classify(500, {**SDK, "retry-after": later}, b"{}", verification_keys=None).retry_after
    assert timedelta(minutes=4) < py - datetime.now(UTC) <= timedelta(minutes=5)
    huge = classify(
        500, {**SDK, "retry-after": "999999"}, b"{}", verification_keys=None
    ).retry_after
    assert huge - datetime.now(UTC) <= timedelta(hours=24)


def test_signed_answers_are_verified_over_the_exact_bytes():
    raw = b'{"a": 1}'
    signed = {**SDK, "x-inngest-signature": sign_response(raw, KEY)}
    assert classify(200, signed, raw, verification_keys=[KEY]).kind == "done"
    forged = classify(200, signed, b'{"a": 2}', verification_keys=[KEY])
    assert forged.kind == "error" and not forged.retriable
    unsigned = classify(200, SDK, raw, verification_keys=[KEY])
    assert unsigned.kind == "error" and "not signed" in unsigned.error["message"]


def test_a_rejected_signature_is_explained():
    outcome = classify(401, SDK, b'{"message": "Unauthorized"}', verification_keys=None)
    assert not outcome.retriable and "INNGEST_SIGNING_KEY" in outcome.error["message"]


def test_it_unwraps_streamed_answers():
    inner = json.dumps([{"op": "StepRun", "id": "x", "data": 2}])
    raw = b"   \n  " + json.dumps({"status": 206, "headers": SDK, "body": inner}).encode()
    assert unwrap_streamed(raw) == (206, SDK, inner.encode())
    outcome = classify(201, {"x-inngest-sdk": "inngest-py:v0.5.19"}, raw, verification_keys=None)
    assert outcome.kind == "ops" and outcome.ops[0].data == 2


def test_backoff_follows_inngests_table_with_up_to_30s_jitter(settings):
    settings.RETRY_BACKOFF_SCALE = 1.0
    for attempt, base in enumerate(TABLE):
        delay = retry_delay(attempt)
        assert base <= delay <= base + timedelta(seconds=30)
    assert retry_delay(50) >= TABLE[-1]
    settings.RETRY_BACKOFF_SCALE = 0.01
    assert retry_delay(0) <= timedelta(seconds=0.45)
