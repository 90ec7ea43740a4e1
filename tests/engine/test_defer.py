"""Defers with the official TypeScript SDK (`defer()` of a `createDefer` function): the
deferred run starts once its parent has ended, however it ended, unless the parent aborted it;
reported in a checkpoint (the SDK's default) or in a call's answer."""

import httpx
import pytest

from controlplane.events.models import Event
from controlplane.runs.models import Defer, DeferStatus, HistoryKind, Run, RunStatus
from tests.engine import test_conformance as conformance
from tests.engine.harness import SIGNING_KEY, wait_for_run
from tests.engine.test_python_sdk import run_of, send

pytestmark = pytest.mark.django_db(transaction=True)
apps, env = conformance.apps, conformance.env  # the conformance apps, synced, as fixtures
TS = conformance.TS
FOLLOW_UP = f"{TS}-follow-up"


def deferred_run(defer: Defer) -> Run:
    return wait_for_run(
        lambda: Run.objects.filter(
            function__slug=FOLLOW_UP, events__external_id=defer.event_id
        ).first()
    )


@pytest.mark.parametrize(
    "event,function,n",
    [("tsc/defer", "deferring", 1), ("tsc/defer-classic", "deferring-classic", 2)],
)
def test_a_defer_starts_its_run_once_the_parent_has_ended(env, event, function, n):
    parent = run_of(send(env, event, {"n": n}), slug=f"{TS}-{function}")
    assert parent.status == RunStatus.COMPLETED and parent.output == "done", parent.error
    defer = Defer.objects.get(run=parent)
    assert (defer.name, defer.function_slug, defer.status) == (
        "later",
        FOLLOW_UP,
        DeferStatus.SCHEDULED,
    )
    assert defer.input == {"n": n}
    assert parent.history.filter(kind=HistoryKind.DEFERRED, step_name="later").count() == 1
    child = deferred_run(defer)
    assert child.status == RunStatus.COMPLETED, child.error
    assert child.output == {"data": {"n": n}, "parent": parent.public_id}
    schedule = Event.objects.get(environment=env, external_id=defer.event_id)
    assert schedule.name == "inngest/deferred.schedule"
    assert schedule.data["_inngest"]["parent_run_id"] == parent.public_id
    assert schedule.data["_inngest"]["fn_slug"] == FOLLOW_UP


def test_an_aborted_defer_starts_nothing(env):
    parent = run_of(send(env, "tsc/defer-abort"), slug=f"{TS}-aborting")
    assert parent.status == RunStatus.COMPLETED and parent.output == "no", parent.error
    defer = Defer.objects.get(run=parent)
    assert defer.status == DeferStatus.ABORTED and defer.input == {}
    assert parent.history.filter(kind=HistoryKind.DEFER_ABORTED).count() == 1
    assert not Event.objects.filter(external_id=defer.event_id).exists()


def test_a_failed_parent_still_starts_its_defer(env):
    parent = run_of(send(env, "tsc/defer-fail"), slug=f"{TS}-failing-deferrer")
    assert parent.status == RunStatus.FAILED
    assert parent.error["message"] == "the parent fails"
    child = deferred_run(Defer.objects.get(run=parent))
    assert child.status == RunStatus.COMPLETED
    assert child.output == {"data": {"n": 4}, "parent": parent.public_id}


def test_the_api_and_the_run_pages_link_parent_and_deferred_run(
    env, live_server_url, client, signed_in, world
):
    parent = run_of(send(env, "tsc/defer", {"n": 5}), slug=f"{TS}-deferring")
    child = deferred_run(Defer.objects.get(run=parent))
    auth = {"Authorization": f"Bearer {SIGNING_KEY}"}

    def api(run):
        url = f"{live_server_url}/v1/runs/{run.public_id}"
        return httpx.get(url, headers=auth).json()["data"]

    [listed] = api(parent)["defers"]
    assert listed == {
        "id": Defer.objects.get(run=parent).hashed_id,
        "name": "later",
        "function_id": FOLLOW_UP,
        "status": "scheduled",
        "reason": None,
        "run_id": child.public_id,
    }
    assert api(parent)["deferred_from"] is None
    assert api(child)["deferred_from"] == parent.public_id and api(child)["defers"] == []

    signed_in(world.viewer)
    base = "/org-a/production/runs"
    page = client.get(f"{base}/{parent.public_id}/").content.decode()
    assert 'id="run-defers"' in page and f"{base}/{child.public_id}/" in page
    page = client.get(f"{base}/{child.public_id}/").content.decode()
    assert 'id="deferred-by"' in page and f"{base}/{parent.public_id}/" in page
