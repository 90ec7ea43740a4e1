"""Metrics, traces and logs of real SDK runs (the Python SDK app of test_python_sdk)."""

import json
import logging
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from controlplane.observability import tracing
from controlplane.observability.logging import ContextFilter, JsonFormatter
from controlplane.observability.models import SdkCall
from controlplane.observability.tracing import ids_of
from controlplane.runs.models import RunStatus
from tests.engine import test_python_sdk as sdk
from tests.engine.conftest import WORKER_METRICS_PORT
from tests.engine.harness import ROOT
from tests.engine.test_python_sdk import APP, run_of, send
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)
# The synced Python SDK app of test_python_sdk, as fixtures of this module too.
py_app, env = sdk.py_app, sdk.env
TOKEN = "metrics-token"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_ENABLED, settings.METRICS_TOKEN = True, TOKEN


def scrape(url: str) -> dict[tuple, float]:
    deadline = time.monotonic() + 20
    while True:  # a Celery worker serves its metrics once it is ready
        try:
            text = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).text
            break
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {
        (sample.name, *sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, *pairs), v in samples.items() if n == name and wanted <= set(pairs))


def test_metrics_move_as_a_real_run_executes(env, engine, live_server_url, metrics_on):
    # The engine's counters live in the process that runs the jobs: this one (local backend)
    # or the Celery worker, which serves its own /metrics.
    engine_url = (
        f"{live_server_url}/metrics"
        if engine == "local"
        else f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics"
    )
    labels = {"environment": "org-a/production", "function": f"{APP}-flaky"}
    before, web_before = scrape(engine_url), scrape(f"{live_server_url}/metrics")
    run = run_of(send(env, "engine/flaky"))
    assert run.status == RunStatus.COMPLETED
    # Metrics are reported once the finishing transaction has committed, a moment after the
    # run reads as finished.
    finished = ("cp_runs_finished_total", labels, "completed")
    deadline = time.monotonic() + 10
    while True:
        after, web_after = scrape(engine_url), scrape(f"{live_server_url}/metrics")
        if (
            value(after, finished[0], **finished[1], status=finished[2])
            > value(before, finished[0], **finished[1], status=finished[2])
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.1)

    def moved(name, samples=(before, after), **extra):
        return value(samples[1], name, **extra) - value(samples[0], name, **extra)

    assert moved("cp_events_received_total", (web_before, web_after), source="api") == 1
    assert moved("cp_runs_started_total", **labels) == 1
    assert moved("cp_runs_finished_total", **labels, status="completed") == 1
    # Discovery + 2 failing attempts + the succeeding one + the final discovery (at least).
    calls = moved("cp_sdk_call_duration_seconds_count", **labels)
    assert calls >= 4 and moved("cp_sdk_call_duration_seconds_sum", **labels) > 0
    assert moved("cp_step_duration_seconds_count", **labels) >= 3
    assert moved("cp_retries_total", **labels) == 2
    assert SdkCall.objects.filter(run=run).count() == calls
    assert value(web_after, "cp_queue_jobs", state="due") >= 0
    assert ("cp_queue_oldest_due_job_age_seconds",) in web_after


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP trace receiver: keeps every span it is sent."""

    spans: list = []

    def do_POST(self):
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                Collector.spans.extend(scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def collector(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    tracing.shutdown()
    Collector.spans = []
    yield Collector
    tracing.shutdown()
    server.shutdown()


@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_a_run_exports_a_trace_linked_to_its_event(env, engine, collector):
    event = send(env, "engine/chain", {"n": 1})
    run = run_of(event)
    trace_id, run_span_id = ids_of(run.public_id)
    deadline = time.monotonic() + 10
    while True:  # spans are emitted once the finishing transaction has committed
        tracing.provider().force_flush()
        spans = [s for s in collector.spans if int.from_bytes(s.trace_id, "big") == trace_id]
        roots = [s for s in spans if s.name == f"run {APP}-chain"]
        calls = [s for s in spans if s.name == f"sdk call {APP}-chain"]
        if (
            roots and len(calls) >= SdkCall.objects.filter(run=run).count()
        ) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    [root] = roots
    assert int.from_bytes(root.span_id, "big") == run_span_id and not root.parent_span_id
    assert [int.from_bytes(link.trace_id, "big") for link in root.links] == [
        ids_of(event.public_id)[0]
    ]
    calls = [s for s in spans if s.name == f"sdk call {APP}-chain"]
    assert len(calls) == SdkCall.objects.filter(run=run).count() >= 4
    assert {int.from_bytes(s.parent_span_id, "big") for s in calls} == {run_span_id}
    attributes = {a.key: a.value.string_value for a in calls[0].attributes}
    assert attributes["inngest.run.id"] == run.public_id


def test_nothing_is_traced_without_an_endpoint(monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    tracing.shutdown()
    assert tracing.provider() is None


@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_engine_log_lines_carry_run_and_step_ids(env, engine):
    lines = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(self.format(record)))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    engine_log = logging.getLogger("controlplane.engine")
    engine_log.addHandler(handler)
    engine_log.setLevel(logging.INFO)
    try:
        run = run_of(send(env, "engine/chain", {"n": 1}))
    finally:
        engine_log.removeHandler(handler)
    mine = [line for line in lines if line.get("run_id") == run.public_id]
    assert len(mine) >= 5 and all(line["step_id"] for line in mine if "sdk call" in line["message"])
    assert {"level", "logger", "message", "time"} <= set(mine[-1])
    assert mine[-1]["message"] == "run completed"


def test_log_format_json_makes_every_line_a_json_object():
    code = (
        "import django, logging; django.setup();"
        "from controlplane.observability.logging import log_context;"
        "ctx = log_context(run_id='R1', step_id='S1'); ctx.__enter__();"
        "logging.getLogger('controlplane.engine').warning('hello')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_FORMAT": "json", "PATH": "/usr/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello" and line["run_id"] == "R1" and line["step_id"] == "S1"
