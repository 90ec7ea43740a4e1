"""Userland spans: the spans an app's step code makes, exported by the official TypeScript SDK's
extended traces (OTLP/JSON to /v1/traces/userland) because the engine's calls carry a
`traceparent`, kept under their step and shown nested on the run page (the endpoint's answers
to bad, foreign and oversized exports: tests/test_userland_spans.py)."""

import hashlib
import time

import pytest

from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import RunStatus, Span, SpanStatus
from tests.engine.harness import use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import run_of, send
from tests.sdk_apps.processes import ts_app

pytestmark = pytest.mark.django_db(transaction=True)
LOAD, CHARGE = (hashlib.sha1(name.encode()).hexdigest() for name in ("load", "charge"))


@pytest.fixture(scope="module")
def app(app_env):
    started = ts_app({**app_env, "APP_ID": "ts-traces"}, script="traces_app.mjs").start()
    yield started
    started.stop()


@pytest.fixture
def env(world, app, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def wait_for_spans(run, names: set[str], timeout: float = 30) -> dict[str, Span]:
    """The SDK exports in batches, a few seconds after the spans end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = {s.name: s for s in Span.objects.filter(run=run)}
        if names <= spans.keys():
            return spans
        time.sleep(0.2)
    raise AssertionError(f"spans {names} not exported: {sorted(spans)}")


@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_spans_made_in_steps_are_kept_under_their_step_and_shown(env, world, signed_in):
    run = wait_for_run(run_of(send(env, "tstr/order", {"rows": 3}), slug="ts-traces-traced"))
    assert run.status == RunStatus.COMPLETED, run.error
    spans = wait_for_spans(run, {"db.query", "db.decode", "payment"})
    query, decode, payment = spans["db.query"], spans["db.decode"], spans["payment"]
    assert (query.step_id, decode.step_id, payment.step_id) == (LOAD, LOAD, CHARGE)
    assert decode.parent_span_id == query.span_id
    assert query.attributes["db.rows"] == 3 and "sdk.run.id" not in query.attributes
    assert payment.status == SpanStatus.ERROR and query.ended_at >= query.started_at
    html = signed_in(world.owner).get(f"/org-a/production/runs/{run.public_id}/").content.decode()
    load_row = html[html.index(f'id="step-{LOAD}"') :]
    load_row = load_row[: load_row.index("</tr>")]
    assert "2 spans traced" in load_row
    assert load_row.index("db.query") < load_row.index("db.decode")
    assert 'style="margin-left: 1rem"><strong>db.decode' in load_row  # nested under its parent
    exports_settled(run)


def exports_settled(run, quiet: float = 6.0) -> None:
    """Wait until the SDK's exporter (a batch every 5 s) has sent the run's last spans: an
    export arriving while the test's database is flushed could deadlock the flush."""
    count, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        now = Span.objects.filter(run=run).count()
        if now != count:
            count, since = now, time.monotonic()
        time.sleep(0.2)
