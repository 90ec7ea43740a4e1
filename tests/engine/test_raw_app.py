"""The engine against a raw app on loopback that answers what no official SDK does today: an
opcode this server does not know, calls that change nothing, a failing call and its retry.
Each is bounded: a run never loops on what the server cannot use."""

import hashlib
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from controlplane.engine.ops import MAX_IDLE_CALLS
from controlplane.events.models import Event
from controlplane.keys.signatures import sign_response
from controlplane.observability.models import SdkCall
from controlplane.registry.services import app_register
from controlplane.runs.models import (
    DEFER_SCHEDULE_EVENT,
    HistoryKind,
    Run,
    RunStatus,
    StepKind,
    StepStatus,
)
from tests.engine.harness import SIGNING_KEY, use_signing_key
from tests.engine.test_python_sdk import run_of, send
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db(transaction=True)
STEP = hashlib.sha1(b"frobnicate").hexdigest()


def unknown_op(_body):
    return 206, [{"op": "Frobnicate", "id": STEP, "name": "frobnicate", "displayName": "frob"}]


def unknown_op_then_its_memo(body):
    """What an SDK does: report the op, then throw the step's error where the code awaits it
    (here: return it)."""
    memo = body["steps"].get(STEP)
    return (200, {"memo": memo}) if memo else unknown_op(body)


def nothing_new(_body):
    return 206, [{"op": "None"}]


def defer_alone(body):
    """A lazy op with no host op beside it: stored, then listed in the next request."""
    if body["defers"]:
        return 200, {"defers": body["defers"]}
    opts = {"fn_slug": "raw-later", "input": {"n": 1}}
    return 206, [{"op": "DeferAdd", "id": "d1", "name": "later", "opts": opts}]


def discovery_then_done(body):
    """TS's DiscoveryRequest: call me again, no step targeted."""
    if body["ctx"]["stack"]["current"] == 0 and not _App.asked_again:
        _App.asked_again = True
        return 206, [{"op": "DiscoveryRequest", "id": "discovery-request-1"}]
    return 200, "asked again"


def fails_once(body):
    return (500, {"name": "Error", "message": "boom"}) if body["ctx"]["attempt"] == 0 else (200, 1)


class _App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer = staticmethod(unknown_op)
    calls: list  # (headers, body) of each call
    asked_again = False

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append((dict(self.headers), body))
        status, data = self.answer(body)
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("X-Inngest-Sdk", "raw:v0")
        self.send_header("X-Inngest-Req-Version", "1")
        if status in (200, 206):
            self.send_header("X-Inngest-Signature", sign_response(raw, SIGNING_KEY))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def raw_app(world, engine):
    """Start a raw app answering with `answer(body)` and register its one function."""
    servers = []

    def start(answer):
        handler = type("Handler", (_App,), {"answer": staticmethod(answer), "calls": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        use_signing_key(world.prod_a)
        config = function("raw", "fn", retries=1)
        url = f"http://127.0.0.1:{server.server_address[1]}/api/inngest"
        config["steps"]["step"]["runtime"]["url"] = f"{url}?fnId=raw-fn&stepId=step"
        sync = app_register(
            environment=world.prod_a,
            payload={**python_body("raw", [config]), "url": url},
            kind="ping",
        )
        assert sync.status == "success", sync.error
        return handler.calls

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_for_event(world) -> Run:
    return run_of(send(world.prod_a, "test/fn"))


def test_an_unknown_opcode_fails_its_step_for_good_and_the_app_goes_on(world, raw_app):
    calls = raw_app(unknown_op_then_its_memo)
    run = run_for_event(world)
    assert run.status == RunStatus.COMPLETED, run.error
    error = run.output["memo"]["error"]
    assert error["name"] == "UnsupportedOpcodeError"
    assert "does not support the Frobnicate opcode (step 'frob')" in error["message"]
    step = run.steps.get(step_id=STEP)
    assert (step.status, step.kind) == (StepStatus.FAILED, StepKind.RUN)
    failed = run.history.get(kind=HistoryKind.STEP_FAILED)
    assert failed.data["error"]["name"] == "UnsupportedOpcodeError"
    assert len(calls) == 2  # reported once, refused once: never retried


def test_an_app_that_keeps_reporting_an_unknown_opcode_is_called_a_bounded_number_of_times(
    world, raw_app
):
    calls = raw_app(unknown_op)  # ignores the refusal and reports the op again, forever
    run = run_for_event(world)
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "NoProgressError"
    assert (
        f"called {MAX_IDLE_CALLS} times in a row and reported nothing new" in (run.error["message"])
    )
    assert "(last: Frobnicate)" in run.error["message"]
    # The call that failed the step, then MAX_IDLE_CALLS that changed nothing.
    assert len(calls) == 1 + MAX_IDLE_CALLS == SdkCall.objects.filter(run=run).count()
    idle = run.history.filter(kind=HistoryKind.IDLE_CALL).order_by("id")
    assert [entry.data["idle_calls"] for entry in idle] == list(range(1, MAX_IDLE_CALLS))


# The pauses are the same code on both backends; long enough here to tell from a call's own time.
@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_calls_that_change_nothing_back_off_then_fail_the_run(world, raw_app, settings):
    settings.RETRY_BACKOFF_SCALE = 0.2  # pauses of 0.2, 0.4, 0.8 and 1.6 s
    calls = raw_app(nothing_new)
    run = run_for_event(world)
    assert run.status == RunStatus.FAILED and run.error["name"] == "NoProgressError"
    assert len(calls) == MAX_IDLE_CALLS
    started = list(
        SdkCall.objects.filter(run=run).order_by("started_at").values_list("started_at", flat=True)
    )
    due = [
        datetime.fromisoformat(entry.data["at"])
        for entry in run.history.filter(kind=HistoryKind.IDLE_CALL).order_by("id")
    ]
    # Each idle call paused the next one, twice as long as the last: 0.2 s, then 0.4 s, ...
    gaps = [(b - a).total_seconds() for a, b in zip(started, started[1:], strict=False)]
    assert all(gap >= 0.2 * 2**n for n, gap in enumerate(gaps)), gaps
    assert all(call >= at for at, call in zip(due, started[1:], strict=True))


def test_a_retried_call_keeps_its_job_id_and_gets_a_new_request_id(world, raw_app):
    calls = raw_app(fails_once)
    run = run_for_event(world)
    assert run.status == RunStatus.COMPLETED and run.output == 1
    (first, first_body), (retry, retry_body) = calls
    assert first["X-Inngest-Job-Id"] == retry["X-Inngest-Job-Id"] == first_body["ctx"]["job_id"]
    assert first["X-Request-Id"] != retry["X-Request-Id"]
    assert retry_body["ctx"]["request_id"] == retry["X-Request-Id"]
    assert (first_body["ctx"]["attempt"], retry_body["ctx"]["attempt"]) == (0, 1)
    assert first["X-Run-ID"] == str(run.public_id) and first["X-Inngest-Step-Id"] == "step"


def test_a_lazy_op_alone_is_stored_and_the_app_called_back(world, raw_app):
    calls = raw_app(defer_alone)
    run = run_for_event(world)
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"defers": {"d1": {"abortable": True}}}
    assert len(calls) == 2
    defer = run.defers.get()
    assert (defer.status, defer.function_slug, defer.input) == ("scheduled", "raw-later", {"n": 1})
    assert Event.objects.filter(external_id=defer.event_id, name=DEFER_SCHEDULE_EVENT).exists()


def test_a_discovery_request_calls_the_app_again(world, raw_app):
    _App.asked_again = False
    calls = raw_app(discovery_then_done)
    run = run_for_event(world)
    assert run.status == RunStatus.COMPLETED and run.output == "asked again", run.error
    assert len(calls) == 2 and not run.steps.exists()
