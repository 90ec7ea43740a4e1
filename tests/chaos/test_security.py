"""Security on the scale-out shape: another environment's key (the same organization's
development environment, another organization's production) on the REST and SDK endpoints
for this environment's ids answers 404 on both servers and changes nothing; an app's answer
whose signature does not match is rejected, and what it said is never stored.

(Websockets from a foreign origin or a removed member, and secrets in dumps and logs, are the
other issue 18 fixes' tests.)"""

import httpx
import pytest

from controlplane.keys.signatures import bearer_hash
from tests.chaos.processes import wait_until
from tests.chaos.raw_app import RawApp, signed
from tests.chaos.runs import runs_of, wait_for_runs


def scoped_requests(run: str, event: str, function: str) -> list[tuple[str, str, dict | None]]:
    """Every endpoint that names a run, an event, an app or a function, with a body that is
    valid but for the key (so the lookup is what refuses it)."""
    update = {"kind": "chaos", "op": "merge", "values": {"a": 1}}
    step = {"op": "StepRun", "id": "s1", "name": "s1", "data": 1}
    return [
        ("GET", f"/v1/runs/{run}", None),
        ("GET", f"/v1/runs/{run}/steps", None),
        ("GET", f"/v1/events/{event}", None),
        ("GET", f"/v1/events/{event}/runs", None),
        ("GET", f"/v0/runs/{run}/batch", None),
        ("GET", f"/v0/runs/{run}/actions", None),
        ("GET", "/v1/apps/chaos/functions", None),
        ("DELETE", f"/v1/runs/{run}", None),
        ("POST", f"/v1/runs/{run}/replay", None),
        ("POST", f"/v1/runs/{run}/metadata", {"target": {"run_id": run}, "metadata": [update]}),
        (
            "POST",
            f"/v1/checkpoint/{run}/async",
            {"run_id": run, "fn_id": function, "qi_id": "1", "steps": [step]},
        ),
        ("POST", "/v1/functions/chaos-nap/invoke", {"data": {}}),
        ("POST", "/v1/functions/chaos-nap/pause", None),
        ("POST", "/v1/functions/chaos-nap/resume", None),
        ("POST", "/v1/functions/chaos-nap/skipped/replay", None),
    ]


def test_another_environments_key_gets_404_for_this_environments_ids(shape, figures):
    sent = httpx.post(
        f"{shape.servers[0].url}/e/{shape.production.event_key}",
        json={"name": "chaos/nap", "data": {"scenario": "security", "seconds": 600}},
    )
    [event] = sent.json()["ids"]
    wait_until(lambda: _run(shape, "sleeping"), timeout=30, what="the run to sleep")
    run, function = _run(shape, "sleeping")
    before = _state(shape, run)

    answers = []
    for other in (shape.development, shape.other_org):
        auth = {"Authorization": f"Bearer {bearer_hash(other.signing_key)}"}
        for server in shape.servers:
            for method, path, body in scoped_requests(run, event, function):
                response = httpx.request(method, server.url + path, json=body, headers=auth)
                answers.append((method, path, response.status_code, response.json().get("error")))
    figures.notes = f"{len(answers)} requests with other environments' keys, on both servers"
    assert [a for a in answers if a[2] != 404 or not a[3]] == []
    assert _state(shape, run) == before

    # The ids were right: this environment's key cancels the run.
    own = {"Authorization": f"Bearer {bearer_hash(shape.production.signing_key)}"}
    assert httpx.delete(f"{shape.servers[1].url}/v1/runs/{run}", headers=own).status_code == 200
    assert _run(shape, "cancelled")


def _run(shape, status: str) -> tuple[str, str] | None:
    rows = shape.rows(
        "SELECT r.public_id, f.public_id FROM runs_run r JOIN events_event e ON e.id = r.event_id "
        "JOIN registry_function f ON f.id = r.function_id "
        "WHERE e.data->>'scenario' = 'security' AND r.status = %s",
        status,
    )
    return (rows[0][0], str(rows[0][1])) if rows else None


def _state(shape, run: str) -> tuple:
    """What a refused request could have changed: the run, its steps and metadata, the
    environment's runs, the function's pause."""
    return shape.rows(
        "SELECT r.status, (SELECT count(*) FROM runs_step s WHERE s.run_id = r.id), "
        "(SELECT count(*) FROM runs_runmetadata m WHERE m.run_id = r.id), "
        "(SELECT count(*) FROM runs_run o WHERE o.environment_id = r.environment_id), "
        "(SELECT paused_at FROM registry_function f WHERE f.id = r.function_id) "
        "FROM runs_run r WHERE r.public_id = %s",
        run,
    )


@pytest.fixture
def lying_app(shape):
    """Answers whose signature does not vouch for their body: a body changed after signing,
    and one signed with another environment's key."""
    key, other = shape.production.signing_key, shape.development.signing_key

    def tampered(_body):
        _status, _raw, signature = signed(key, 200, b'"honest"')
        return 200, b'"forged"', signature

    app = RawApp(
        {"tampered": tampered, "foreign": lambda _body: signed(other, 200, b'"forged"')}
    ).start(shape.servers[0].url, key)
    yield app
    app.stop()


def test_an_answer_with_a_tampered_signature_is_rejected(shape, lying_app, figures):
    events = [{"name": f"test/{fn}", "data": {"scenario": "tampered"}} for fn in lying_app.calls]
    sent = httpx.post(f"{shape.servers[1].url}/e/{shape.production.event_key}", json=events)
    assert sent.status_code == 200, sent.text
    wait_for_runs(shape, "tampered", count=len(events), timeout=60)
    outcomes = shape.rows(
        "SELECT r.status, r.error->>'name', r.output FROM runs_run r "
        "JOIN events_event e ON e.id = r.event_id WHERE e.data->>'scenario' = 'tampered'"
    )
    runs = runs_of(shape, "tampered")
    figures.record(**runs.figures())
    figures.events_accepted = figures.events_stored = len(events)
    figures.step_executions = sum(lying_app.calls.values())
    assert outcomes == [("failed", "SignatureError", None)] * len(events)
    assert lying_app.calls == {"tampered": 1, "foreign": 1}  # rejected, not retried
