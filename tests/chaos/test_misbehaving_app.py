"""An app that misbehaves: it answers garbage, hangs past the call timeout, reports an opcode the
server does not know, or answers 200 with a body it did not sign. Each run fails or retries as
the README says (retries with backoff; "What the server refuses"), and the workers' CPU stays
bounded while they deal with it: no hot loop."""

import json
import time

import httpx
import pytest

from controlplane.engine.ops import MAX_IDLE_CALLS
from tests.chaos.raw_app import RawApp, hang, signed
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.shape import ENGINE_ENV

TIMEOUT = float(ENGINE_ENV["SDK_CALL_TIMEOUT_SECONDS"])
ATTEMPTS = 2  # retries=1
# Of one core, summed over both workers: polling sweepers cost a few percent; a loop that
# calls, parses or claims without pause would take a whole core.
CPU_SHARE = 0.5
UNKNOWN_OP = json.dumps([{"op": "Frobnicate", "id": "frob-1", "name": "frob"}]).encode()


@pytest.fixture
def raw_app(shape):
    key = shape.production.signing_key
    app = RawApp(
        {
            "garbage": lambda _body: signed(key, 200, b"<html>\x00\xff not json"),
            "hang": hang(TIMEOUT + 2),
            "unknown-op": lambda _body: signed(key, 206, UNKNOWN_OP),
            "unsigned": lambda _body: (200, b'"forged"', None),
        },
        retries=ATTEMPTS - 1,
    ).start(shape.servers[0].url, key)
    yield app
    app.stop()


# function -> (the run's error, calls the app gets)
EXPECTED = {
    "garbage": ("ProtocolError", ATTEMPTS),  # "not JSON": retried, then failed
    "hang": ("TimeoutError", ATTEMPTS),  # "did not answer in time": retried, then failed
    # The step fails for good with UnsupportedOpcodeError; the app keeps reporting it, so the
    # run is called again with backoff and fails with NoProgressError.
    "unknown-op": ("NoProgressError", 1 + MAX_IDLE_CALLS),
    "unsigned": ("SignatureError", 1),  # not worth retrying: failed at once
}


def test_a_misbehaving_app_fails_its_runs_as_documented_in_bounded_cpu(shape, raw_app, figures):
    cpu_before = sum(worker.cpu_seconds() for worker in shape.workers)
    started = time.monotonic()
    events = [{"name": f"test/{fn}", "data": {"scenario": "misbehaving"}} for fn in EXPECTED]
    sent = httpx.post(f"{shape.servers[1].url}/e/{shape.production.event_key}", json=events)
    assert sent.status_code == 200, sent.text
    wait_for_runs(shape, "misbehaving", count=len(EXPECTED), timeout=60)
    elapsed = time.monotonic() - started
    cpu = sum(worker.cpu_seconds() for worker in shape.workers) - cpu_before

    errors = dict(
        shape.rows(
            "SELECT f.slug, r.error->>'name' FROM runs_run r "
            "JOIN events_event e ON e.id = r.event_id "
            "JOIN registry_function f ON f.id = r.function_id "
            "WHERE e.data->>'scenario' = 'misbehaving'"
        )
    )
    unknown_step = shape.rows(
        "SELECT s.status, s.memo->'error'->>'name' FROM runs_step s "
        "JOIN runs_run r ON r.id = s.run_id JOIN registry_function f ON f.id = r.function_id "
        "JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = 'misbehaving' AND f.slug = 'raw-unknown-op'"
    )
    runs = runs_of(shape, "misbehaving")
    figures.record(**runs.figures())
    figures.events_accepted = figures.events_stored = len(EXPECTED)
    figures.step_executions = sum(raw_app.calls.values())
    figures.notes = (
        f"all {len(EXPECTED)} failed as documented; worker CPU {cpu:.1f} s over {elapsed:.0f} s"
    )
    assert errors == {f"raw-{fn}": error for fn, (error, _calls) in EXPECTED.items()}
    assert raw_app.calls == {fn: calls for fn, (_error, calls) in EXPECTED.items()}
    assert unknown_step == [("failed", "UnsupportedOpcodeError")]
    assert runs.statuses == {"failed": len(EXPECTED)}
    assert cpu < CPU_SHARE * elapsed, (cpu, elapsed)
