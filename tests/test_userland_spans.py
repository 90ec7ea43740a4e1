"""POST /v1/traces/userland as the TypeScript SDK's extended traces send it (OTLP/JSON): spans
kept once per run, bounded, under their step; another environment's run or a span with no run
rejected (OTLP's partial success); a bad export refused whole; the key and the format checked.
The spans of a real SDK app: tests/engine/test_spans.py; their step's row reaches the run page
live."""

import hashlib
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from controlplane.engine.steps import step_memoize
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.signatures import bearer_hash
from controlplane.runs import spans as spans_module
from controlplane.runs.models import HistoryKind, Span
from tests.test_api_isolation import run_a  # noqa: F401 (a fixture)
from tests.test_runs_live import ORIGIN, connect, cookie_of, received, run_path, signed_in_client

pytestmark = pytest.mark.django_db
LOAD = hashlib.sha1(b"load").hexdigest()


def bearer(environment) -> str:
    return bearer_hash(active_signing_key(environment)) if environment else "nope"


def export(client, spans: list[dict], environment, *, content_type="application/json", key=None):
    key = key or bearer(environment)
    return client.post(
        "/v1/traces/userland",
        data=json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}),
        content_type=content_type,
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


def span(run_id: str, span_id: str, **fields) -> dict:
    return {
        "spanId": span_id,
        "name": "work",
        "startTimeUnixNano": "1796295310426000000",
        "endTimeUnixNano": "1796295310436000000",
        "attributes": [
            {"key": "sdk.run.id", "value": {"stringValue": run_id}},
            {"key": "inngest.step.hash", "value": {"stringValue": LOAD}},
            {"key": "n", "value": {"intValue": "7"}},
        ],
        **fields,
    }


def test_an_export_is_kept_once_and_bounded(client, run_a, monkeypatch):  # noqa: F811
    monkeypatch.setattr(spans_module, "MAX_SPANS_PER_RUN", 3)
    env, run_id = run_a.environment, run_a.public_id
    first = export(client, [span(run_id, "s1"), span(run_id, "s2")], env)
    assert first.status_code == 200 and first.json() == {}
    kept = Span.objects.get(span_id="s1")
    assert (kept.run, kept.step_id, kept.name) == (run_a, LOAD, "work")
    assert kept.attributes == {"inngest.step.hash": LOAD, "n": 7}
    assert kept.duration_ms == pytest.approx(10)
    # s2 again is kept once; s4 is past the run's bound of 3.
    answer = export(client, [span(run_id, i) for i in ("s2", "s3", "s4")], env)
    assert answer.json()["partialSuccess"]["rejectedSpans"] == 1
    assert sorted(Span.objects.values_list("span_id", flat=True)) == ["s1", "s2", "s3"]
    assert run_a.history.filter(kind=HistoryKind.SPANS, step_id=LOAD).count() == 2


def test_attributes_are_bounded_per_span(client, run_a, monkeypatch):  # noqa: F811
    monkeypatch.setattr(spans_module, "MAX_ATTRIBUTE_BYTES", 200)
    big = span(run_a.public_id, "s1")
    big["attributes"] += [{"key": f"k{i}", "value": {"stringValue": "x" * 50}} for i in range(9)]
    assert export(client, [big], run_a.environment).status_code == 200
    attributes = Span.objects.get().attributes
    assert attributes["inngest.dropped_attributes"] > 0
    assert len(json.dumps(attributes)) < 400


def test_spans_of_another_environment_or_of_no_run_are_rejected(client, world, run_a):  # noqa: F811
    foreign = export(client, [span(run_a.public_id, "s1")], world.prod_b)
    assert foreign.json()["partialSuccess"]["rejectedSpans"] == 1
    orphan = span(run_a.public_id, "s2", attributes=[])
    answer = export(client, [orphan], run_a.environment)
    assert answer.json()["partialSuccess"]["rejectedSpans"] == 1
    assert not Span.objects.exists()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"spanId": ""}, "`spanId`"),
        ({"name": 3}, "`name`"),
        ({"attributes": "no"}, "`attributes`"),
        ({"attributes": [{"value": {}}]}, "`key`"),
        ({"startTimeUnixNano": "noon"}, "Unix nanoseconds"),
    ],
)
def test_a_bad_export_is_refused_whole(client, run_a, bad, message):  # noqa: F811
    spans = [span(run_a.public_id, "ok"), span(run_a.public_id, "bad", **bad)]
    answer = export(client, spans, run_a.environment)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert not Span.objects.exists()


def test_the_endpoint_wants_the_key_and_otlp_json(client, run_a):  # noqa: F811
    assert export(client, [], None).status_code == 401
    protobuf = export(client, [], run_a.environment, content_type="application/x-protobuf")
    assert protobuf.status_code == 415 and "OTLP/JSON" in protobuf.json()["error"]
    key = bearer_hash(active_signing_key(run_a.environment))
    not_otlp = client.post(
        "/v1/traces/userland",
        data={"spans": []},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert not_otlp.status_code == 400 and "resourceSpans" in not_otlp.json()["error"]


@pytest.mark.django_db(transaction=True)  # the socket's consumer reads in its own thread
def test_spans_reach_their_steps_row_on_the_run_page_live(client, world, run_a):  # noqa: F811
    step_memoize(run_a, LOAD, {"data": 1}, name="load")
    cookie, path = cookie_of(signed_in_client(world.viewer)), run_path(run_a)
    spans, key = [span(run_a.public_id, "s1", name="db.query")], bearer(run_a.environment)

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        answer = await database_sync_to_async(export)(client, spans, None, key=key)
        assert answer.status_code == 200
        pushed = await received(socket)
        assert f'id="step-{LOAD}"' in pushed and "1 span traced" in pushed
        assert "db.query" in pushed
        await socket.disconnect()

    async_to_sync(scenario)()
