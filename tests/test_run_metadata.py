"""POST /v1/runs/{id}/metadata as the TypeScript SDK sends it: targets, combining, limits,
refusals (nothing half-written), keys and tenants; metadata riding on a step's op; the run
page and its live push."""

import hashlib
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from controlplane.engine.protocol import Op
from controlplane.engine.steps import step_memoize
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.signatures import bearer_hash, strip_prefix
from controlplane.runs.metadata import MAX_RUN_BYTES, MAX_UPDATE_BYTES, op_metadata_apply
from controlplane.runs.models import HistoryKind, RunMetadata
from tests.test_api_isolation import run_a  # noqa: F401 (a fixture)
from tests.test_runs_live import ORIGIN, connect, cookie_of, received, run_path, signed_in_client

pytestmark = pytest.mark.django_db


def ts_bearer(environment) -> dict:
    """The TS SDK's bearer: the key's prefix, then the hash."""
    key = active_signing_key(environment)
    prefix = key[: len(key) - len(strip_prefix(key))]
    return {"HTTP_AUTHORIZATION": f"Bearer {prefix}{bearer_hash(key)}"}


def post(client, run, body, environment=None, **headers):
    headers = headers or ts_bearer(environment or run.environment)
    return client.post(
        f"/v1/runs/{run.public_id}/metadata",
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        **headers,
    )


def update(kind="userland.default", op="set", **values) -> dict:
    return {"kind": kind, "op": op, "values": values}


def stored(run) -> dict:
    return {(m.scope, m.step_name, m.span_id, m.kind): m.values for m in run.metadata.all()}


def test_it_keeps_metadata_of_the_run_a_step_and_a_span(client, run_a):  # noqa: F811
    target = {"run_id": run_a.public_id}
    assert post(client, run_a, {"target": target, "metadata": [update(a=1)]}).json() == {}
    step = {**target, "step_id": "fetch", "step_index": 1, "step_attempt": 0}
    post(client, run_a, {"target": step, "metadata": [update("userland.audit", ok=True)]})
    span = {**step, "span_id": "00f067aa0ba902b7"}
    post(client, run_a, {"target": span, "metadata": [update("inngest.ai", input_tokens=5)]})
    assert stored(run_a) == {
        ("run", "", "", "userland.default"): {"a": 1},
        ("step", "fetch", "", "userland.audit"): {"ok": True},
        ("extended_trace", "fetch", "00f067aa0ba902b7", "inngest.ai"): {"input_tokens": 5},
    }
    # The user's step id is hashed as the SDK hashes it (the n-th repeat: "<id>:<n>").
    hashed = hashlib.sha1(b"fetch:1").hexdigest()
    assert run_a.metadata.get(kind="userland.audit").step_id == hashed
    rows = run_a.history.filter(kind=HistoryKind.METADATA)
    assert [(r.step_id, r.data["kinds"]) for r in rows] == [
        ("", ["userland.default"]),
        (hashed, ["userland.audit"]),
        (hashed, ["inngest.ai"]),
    ]


def test_updates_combine_as_inngest_combines_them(client, run_a):  # noqa: F811
    def send(op, **values):
        assert post(client, run_a, {"metadata": [update(op=op, **values)]}).status_code == 200

    send("set", a=1, b="x", n=2)
    send("merge", b="y", c=True)
    send("delete", a=None)
    send("add", n=3, m=1, b=1)  # a number is added to; anything else is replaced
    assert stored(run_a) == {
        ("run", "", "", "userland.default"): {"b": 1, "c": True, "n": 5, "m": 1}
    }
    send("set", only=1)
    assert stored(run_a) == {("run", "", "", "userland.default"): {"only": 1}}


def test_scores_are_checked_as_inngest_checks_them(client, run_a):  # noqa: F811
    good = update("inngest.score", "merge", accuracy={"value": 0.5}, ok={"value": False})
    assert post(client, run_a, {"metadata": [good]}).status_code == 200
    for bad in ({"value": "high"}, {"value": 1, "extra": 2}, 3, {"value": None}):
        body = {"metadata": [update("inngest.score", "merge", accuracy=bad)]}
        response = post(client, run_a, body)
        assert (
            response.status_code == 400 and "finite number or boolean" in response.json()["error"]
        )
    body = {
        "metadata": [{"kind": "inngest.score", "op": "merge", "values": {"it's": {"value": 1}}}]
    }
    assert "single quotes" in post(client, run_a, body).json()["error"]
    assert stored(run_a)[("run", "", "", "inngest.score")] == {
        "accuracy": {"value": 0.5},
        "ok": {"value": False},
    }


@pytest.mark.parametrize(
    "body,message",
    [
        ("not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ({"target": {}}, "`metadata` must be a list"),
        ({"target": [], "metadata": []}, "`target` must be an object"),
        ({"target": {"run_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, "metadata": []}, "run of the URL"),
        ({"target": {"step_index": 1}, "metadata": []}, "`target.step_id` must be given"),
        ({"target": {"step_id": ""}, "metadata": []}, "`target.step_id` must be a non-empty"),
        ({"target": {"step_id": "a", "step_index": "1"}, "metadata": []}, "whole number"),
        ({"target": {"step_id": "a", "step_index": -1}, "metadata": []}, "not be negative"),
        ({"metadata": [5]}, "`metadata[1]` must be an object"),
        ({"metadata": [{"op": "set", "values": {}}]}, "`metadata[1].kind`"),
        ({"metadata": [update(op="replace")]}, "`metadata[1].op` must be one of merge, set"),
        ({"metadata": [{"kind": "k", "op": "set", "values": [1]}]}, "`metadata[1].values`"),
        ({"metadata": [update("inngest.internal")]}, "reserved for the server"),
        ({"metadata": [update("k" * 129)]}, "longer than 128"),
        ({"metadata": [update(a="\x00")]}, "NUL character"),
    ],
)
def test_a_bad_body_is_400_naming_the_problem_and_stores_nothing(
    client,
    run_a,  # noqa: F811
    body,
    message,
):
    if isinstance(body, dict) and "metadata" in body:
        body = {**body, "metadata": [update(first=1), *body["metadata"]]}  # a good one first
    response = post(client, run_a, body)
    assert response.status_code == 400, response.content
    assert message in response.json()["error"] and response.json()["status"] == 400
    assert not run_a.metadata.exists() and not run_a.history.filter(kind="metadata").exists()


def test_an_update_or_a_run_past_its_limit_is_413_and_stores_nothing(client, run_a):  # noqa: F811
    big = update(blob="x" * MAX_UPDATE_BYTES)
    response = post(client, run_a, {"metadata": [big]})
    assert response.status_code == 413 and "at most 65536" in response.json()["error"]
    chunk = "x" * (MAX_UPDATE_BYTES - 100)
    kinds = [f"userland.k{i}" for i in range(MAX_RUN_BYTES // MAX_UPDATE_BYTES)]
    for batch in (kinds[:8], kinds[8:15]):  # a request body holds at most 512 KiB
        body = {"metadata": [update(kind, blob=chunk) for kind in batch]}
        assert post(client, run_a, body).status_code == 200
    body = {"metadata": [update(kinds[15], blob=chunk), update(more=chunk)]}
    response = post(client, run_a, body)
    assert response.status_code == 413 and "a run holds at most 1048576" in response.json()["error"]
    assert run_a.metadata.count() == 15
    # Replacing what a row holds is measured by what it will hold, not added on top.
    assert post(client, run_a, {"metadata": [update(kinds[0], small=1)]}).status_code == 200


def test_keys_tenants_and_run_ids(client, world, run_a):  # noqa: F811
    body = {"metadata": [update(a=1)]}
    key = active_signing_key(world.prod_a)
    assert post(client, run_a, body, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert post(client, run_a, body, HTTP_AUTHORIZATION="Bearer " + "0" * 64).status_code == 401
    assert client.post(f"/v1/runs/{run_a.public_id}/metadata", data=body).status_code == 401
    for other in (world.dev_a, world.prod_b):
        response = post(client, run_a, {"metadata": [update(b=2)]}, environment=other)
        assert response.status_code == 404 and response.json()["error"] == "Run not found."
    assert stored(run_a) == {("run", "", "", "userland.default"): {"a": 1}}
    response = client.post("/v1/runs/nope/metadata", **ts_bearer(world.prod_a))
    assert response.status_code == 400 and "ULID" in response.json()["error"]
    assert client.get(f"/v1/runs/{run_a.public_id}/metadata").status_code == 405


def test_a_bad_update_on_a_step_op_is_dropped_and_never_fails_the_step(run_a):  # noqa: F811
    def op(metadata) -> Op:
        return Op(op="StepRun", id="h1", display_name="fetch", metadata=metadata)

    good = {"scope": "step", **update(a=1)}
    score = {"scope": "run", **update("inngest.score", "merge", q={"value": 1})}
    op_metadata_apply(run_a, op([good, score]), attempt=0)
    op_metadata_apply(run_a, op([good, {"scope": "run", **update(op="nope")}]), attempt=1)
    op_metadata_apply(run_a, op([{"scope": "request", **update(b=2)}]), attempt=1)
    op_metadata_apply(run_a, op([{"scope": "step", **update(b="\x00")}]), attempt=1)
    assert stored(run_a) == {
        ("step", "fetch", "", "userland.default"): {"a": 1},
        ("run", "", "", "inngest.score"): {"q": {"value": 1}},
    }
    assert run_a.metadata.get(scope="step").attempt == 0


def test_the_run_page_shows_scores_ai_attributes_and_metadata(client, signed_in, world, run_a):  # noqa: F811
    step_memoize(run_a, "h1", {"data": 1}, name="chat")
    ai = update("inngest.ai", response_model="gpt-test", input_tokens=12, output_tokens=3)
    ai["values"] |= {"latency_ms": 850.4, "provider": "openai"}
    metadata = [ai, update("userland.prompt", version=2)]
    op_metadata_apply(
        run_a,
        Op(op="StepRun", id="h1", name="chat", metadata=[{"scope": "step", **u} for u in metadata]),
        attempt=0,
    )
    body = {"metadata": [update("inngest.score", "merge", helpful={"value": 0.9})]}
    post(client, run_a, body)
    signed_in(world.viewer)
    page = client.get(f"/org-a/production/runs/{run_a.public_id}/").content.decode()
    assert 'id="run-scores"' in page and "helpful" in page and "0.9" in page
    assert "gpt-test" in page and "12 in / 3 out tokens" in page and "850 ms" in page
    assert "userland.prompt" in page
    response = client.get(f"/v1/runs/{run_a.public_id}", **ts_bearer(world.prod_a))
    kinds = [m["kind"] for m in response.json()["data"]["metadata"]]
    assert kinds == ["inngest.ai", "userland.prompt", "inngest.score"]
    signed_in(world.outsider)
    assert client.get(f"/org-a/production/runs/{run_a.public_id}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_an_update_reaches_the_run_page_live(client, world, run_a):  # noqa: F811
    step_memoize(run_a, "h1", {"data": 1}, name="chat")
    cookie, path = cookie_of(signed_in_client(world.viewer)), run_path(run_a)
    body = {"metadata": [update("inngest.score", "merge", helpful={"value": 1})]}

    async def scenario():
        socket, connected = await connect(path, ORIGIN, cookie)
        assert connected
        assert (await database_sync_to_async(post)(client, run_a, body)).status_code == 200
        pushed = await received(socket)
        assert 'id="run-header" hx-swap-oob="true"' in pushed and "helpful" in pushed
        await socket.disconnect()

    async_to_sync(scenario)()
    assert RunMetadata.objects.filter(run=run_a).count() == 1
