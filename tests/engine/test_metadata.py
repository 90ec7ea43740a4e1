"""Run metadata and scores with the official TypeScript SDK (`inngest.metadata`, `inngest.score`,
`step.score`, a scorer): written inside a step they ride on its op (in a checkpoint, or in a
call's answer), outside one they come to POST /v1/runs/{id}/metadata; either way they are kept
per run and step, listed by GET /v1/runs/{id} and shown on the run page."""

import hashlib

import httpx
import pytest

from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Defer, HistoryKind, Run, RunStatus
from tests.engine.harness import SIGNING_KEY, use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import run_of, send
from tests.sdk_apps.processes import ts_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "ts-metadata"
FETCH = hashlib.sha1(b"fetch").hexdigest()


@pytest.fixture(scope="module")
def app(app_env):
    started = ts_app({**app_env, "APP_ID": APP}, script="metadata_app.mjs").start()
    yield started
    started.stop()


@pytest.fixture
def env(world, app, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def entries(run) -> dict:
    """(scope, step name, kind) -> values."""
    return {(m.scope, m.step_name, m.kind): m.values for m in run.metadata.all()}


@pytest.mark.parametrize("function", ["annotated", "annotated-classic"])
def test_metadata_and_scores_are_kept_per_run_and_step(env, function):
    event = "tsmd/annotate" + ("-classic" if function.endswith("classic") else "")
    run = run_of(send(env, event, {"latency": 40}), slug=f"{APP}-{function}")
    assert run.status == RunStatus.COMPLETED and run.output == {"rows": 3}, run.error
    assert entries(run) == {
        ("step", "fetch", "userland.default"): {"source": "db", "rows": 3},
        ("step", "fetch", "inngest.score"): {"quality": {"value": 0.75}},
        ("run", "", "inngest.score"): {"approved": {"value": True}, "latency": {"value": 40}},
        ("step", "fetch", "userland.audit"): {"checked": True},
        ("run", "", "userland.account"): {"customer": "acme"},
    }
    assert run.metadata.get(kind="userland.default").step_id == FETCH
    # What came through the endpoint told the run's live pages.
    assert run.history.filter(kind=HistoryKind.METADATA, step_name="fetch").exists()


def test_a_scorer_scores_its_parent_run(env):
    parent = run_of(send(env, "tsmd/judge", {"good": True}), slug=f"{APP}-judged")
    assert parent.status == RunStatus.COMPLETED, parent.error
    defer = Defer.objects.get(run=parent)
    scorer = wait_for_run(lambda: Run.objects.filter(events__external_id=defer.event_id).first())
    assert scorer.status == RunStatus.COMPLETED, scorer.error
    judged = wait_for_run(lambda: parent.metadata.filter(kind="inngest.score").first() and parent)
    assert judged.metadata.get(kind="inngest.score").values == {"judged": {"value": 1}}
    assert not scorer.metadata.exists()


def test_the_api_and_the_run_page_show_them(env, live_server_url, client, signed_in, world):
    run = run_of(send(env, "tsmd/annotate", {"latency": 7}), slug=f"{APP}-annotated")
    url = f"{live_server_url}/v1/runs/{run.public_id}"
    data = httpx.get(url, headers={"Authorization": f"Bearer {SIGNING_KEY}"}).json()["data"]
    kinds = {(m["scope"], m["step_name"], m["kind"]) for m in data["metadata"]}
    assert ("step", "fetch", "userland.default") in kinds and (
        "run",
        None,
        "inngest.score",
    ) in kinds
    signed_in(world.viewer)
    page = client.get(f"/org-a/production/runs/{run.public_id}/").content.decode()
    assert 'id="run-scores"' in page
    for text in ("approved", "latency", "quality", "userland.account", "userland.audit"):
        assert text in page
