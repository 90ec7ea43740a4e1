"""GET /v1/runs/{id}, /v1/runs/{id}/steps, /v1/events/{id}/runs; DELETE /v1/runs/{id};
POST /v1/runs/{id}/replay."""

import pytest

from controlplane.engine.settle import events_accept
from controlplane.engine.steps import step_memoize, step_pending
from controlplane.ids import new_ulid
from controlplane.registry.services import app_register
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, Run, RunStatus, StepKind, StepStatus
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db

BOOM = {"name": "Error", "message": "boom"}


def test_it_gets_a_run_and_the_runs_of_its_event(api, world, keys, run_a):
    run = api.get(f"/v1/runs/{run_a.public_id}", keys["read"]).json()["data"]
    assert run["run_id"] == run_a.public_id and run["status"] == "Running"
    assert run["function_id"] == "app-f" and run["event_id"] == run_a.event.public_id
    runs = api.get(f"/v1/events/{run_a.event.public_id}/runs", keys["read"]).json()
    assert [r["run_id"] for r in runs["data"]] == [run_a.public_id]


def test_the_runs_of_an_event_include_those_a_wildcard_trigger_started(api, world, keys):
    wild = function("app", "wild", triggers=[{"event": "test/*"}])
    app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f"), wild]),
        kind="out_of_band",
    )
    [accepted] = events_accept(
        environment=world.prod_a, payloads=[{"name": "test/f"}], source="api"
    )
    runs = api.get(f"/v1/events/{accepted.event.public_id}/runs", keys["read"]).json()["data"]
    assert sorted(r["function_id"] for r in runs) == ["app-f", "app-wild"]
    [other] = events_accept(environment=world.prod_a, payloads=[{"name": "tests/f"}], source="api")
    assert api.get(f"/v1/events/{other.event.public_id}/runs", keys["read"]).json()["data"] == []


def test_it_lists_steps_in_order_with_attempts_outputs_and_errors(api, world, keys, run_a):
    # "fetch" failed once, then succeeded; "nap" slept; "charge" failed for good.
    history_append(
        run_a, HistoryKind.STEP_ERRORED, step_id="h1", step_name="fetch", attempt=0, error=BOOM
    )
    step_pending(run_a, "h1", status=StepStatus.PLANNED, kind=StepKind.RUN, name="fetch")
    step_memoize(run_a, "h1", {"data": {"user": 7}}, name="fetch")
    history_append(run_a, HistoryKind.STEP_COMPLETED, step_id="h1", step_name="fetch", attempt=1)
    step_pending(run_a, "h2", status=StepStatus.SLEEPING, kind=StepKind.SLEEP, name="nap")
    step_memoize(run_a, "h3", {"error": BOOM}, failed=True, name="charge")
    history_append(
        run_a, HistoryKind.STEP_FAILED, step_id="h3", step_name="charge", attempt=0, error=BOOM
    )
    body = api.get(f"/v1/runs/{run_a.public_id}/steps", keys["read"]).json()
    fetch, nap, charge = body["data"]
    assert (fetch["name"], fetch["kind"], fetch["status"]) == ("fetch", "run", "Completed")
    assert fetch["output"] == {"user": 7} and fetch["error"] is None and fetch["ended_at"]
    assert [(a["attempt"], a["status"], a["error"]) for a in fetch["attempts"]] == [
        (0, "errored", BOOM),
        (1, "completed", None),
    ]
    assert (nap["kind"], nap["status"], nap["output"], nap["ended_at"]) == (
        "sleep",
        "Sleeping",
        None,
        None,
    )
    assert charge["status"] == "Failed" and charge["error"] == BOOM and charge["output"] is None
    assert body["cursor"] is None


def test_it_pages_through_the_steps_of_a_long_run(api, keys, run_a):
    for i in range(250):
        step_memoize(run_a, f"step-{i:03}", {"data": i}, name=f"s{i}")
    outputs, cursor = [], None
    while True:
        url = f"/v1/runs/{run_a.public_id}/steps?limit=100" + (
            f"&cursor={cursor}" if cursor else ""
        )
        body = api.get(url, keys["read"]).json()
        outputs += [s["output"] for s in body["data"]]
        if not (cursor := body["cursor"]):
            break
    assert outputs == list(range(250))
    assert (
        api.get(f"/v1/runs/{run_a.public_id}/steps?cursor=unknown", keys["read"]).status_code == 400
    )


@pytest.mark.parametrize(
    "url", ["/v1/runs/{run}", "/v1/runs/{run}/steps", "/v1/events/{event}/runs"]
)
def test_another_environments_ids_are_404(api, keys, run_a, url):
    url = url.format(run=run_a.public_id, event=run_a.event.public_id)
    assert api.get(url, keys["read"]).status_code == 200
    for other in ("other_env", "other_org"):
        assert api.get(url, keys[other]).status_code == 404
    assert (
        api.get(
            url.replace(run_a.public_id, new_ulid()).replace(run_a.event.public_id, new_ulid()),
            keys["read"],
        ).status_code
        == 404
    )


def test_cancelling_needs_write_access_and_the_runs_environment(api, world, keys, run_a):
    url = f"/v1/runs/{run_a.public_id}"
    response = api.delete(url, keys["read"])
    assert response.status_code == 403 and response.json()["status"] == 403
    assert api.delete(url, keys["other_env"]).status_code == 404
    assert Run.objects.get(pk=run_a.pk).status == RunStatus.QUEUED
    data = api.delete(url, keys["write"]).json()["data"]
    assert data["status"] == "Cancelled"
    assert data["output"]["message"].startswith("Cancelled through the API (API key “key-")
    assert api.delete(url, keys["signing"]).json()["data"]["status"] == "Cancelled"  # idempotent


def test_replaying_a_finished_run_starts_a_linked_run_with_the_same_events(api, world, keys, run_a):
    url = f"/v1/runs/{run_a.public_id}/replay"
    refused = api.post(url, keys["write"])  # still queued
    assert refused.status_code == 409 and "still active" in refused.json()["error"]
    api.delete(f"/v1/runs/{run_a.public_id}", keys["write"])
    assert api.post(url, keys["read"]).status_code == 403
    assert api.post(url, keys["other_env"]).status_code == 404
    response = api.post(url, keys["write"])
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert data["replay_of"] == run_a.public_id and data["status"] == "Running"
    replay = Run.objects.get(public_id=data["run_id"])
    assert replay.replay_of_id == run_a.pk and replay.function_id == run_a.function_id
    assert list(replay.events.all()) == list(run_a.events.all())
    assert replay.status == RunStatus.QUEUED and replay.jobs.exists()
    assert Run.objects.filter(function=run_a.function).count() == 2  # nothing else started


def test_wrong_methods_are_405_with_allow(client, keys, run_a):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {keys['write']}"}
    response = client.post(f"/v1/runs/{run_a.public_id}", **auth)
    assert response.status_code == 405 and response["Allow"] == "GET, DELETE"
    assert client.delete("/v1/events", **auth).status_code == 405
