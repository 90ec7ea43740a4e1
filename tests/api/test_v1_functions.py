"""GET /v1/apps/{app}/functions and POST /v1/functions/{slug}/invoke."""

import pytest

from controlplane.events.models import Event
from controlplane.registry.services import app_register, app_set_archived
from controlplane.runs.models import Run
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db


def test_it_lists_an_apps_live_functions_with_their_triggers(api, world, keys, app_a):
    body = api.get("/v1/apps/app/functions", keys["read"]).json()
    assert [f["slug"] for f in body["data"]] == ["app-f", "app-g"]
    f = body["data"][0]
    assert f["app_id"] == "app" and f["name"] == "F" and f["paused"] is False
    assert f["triggers"] == [{"type": "event", "value": "test/f", "expression": None}]
    assert f["config"]["id"] == "app-f"


def test_it_pages_through_functions_and_hides_removed_ones(api, world, keys):
    functions = [function("big", f"fn{i}") for i in range(5)]
    app_register(
        environment=world.prod_a, payload=python_body("big", functions), kind="out_of_band"
    )
    first = api.get("/v1/apps/big/functions?limit=3", keys["read"]).json()
    rest = api.get(f"/v1/apps/big/functions?limit=3&cursor={first['cursor']}", keys["read"]).json()
    assert len(first["data"]) == 3 and first["has_more"]
    assert len(rest["data"]) == 2 and rest["cursor"] is None
    app_register(
        environment=world.prod_a, payload=python_body("big", functions[:1]), kind="out_of_band"
    )
    assert [f["slug"] for f in api.get("/v1/apps/big/functions", keys["read"]).json()["data"]] == [
        "big-fn0"
    ]


def test_another_environments_app_is_404(api, keys, app_a):
    assert api.get("/v1/apps/app/functions", keys["other_env"]).status_code == 404
    assert api.get("/v1/apps/app/functions", keys["other_org"]).status_code == 404
    assert api.get("/v1/apps/app/functions?limit=0", keys["read"]).status_code == 400


def test_invoking_starts_a_run_with_an_invoked_event(api, world, keys, app_a):
    response = api.post(
        "/v1/functions/app-g/invoke",
        keys["write"],
        body={"data": {"order": 42}, "user": {"id": "u1"}},
    )
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    run = Run.objects.get(public_id=data["run_id"])
    assert run.function.slug == "app-g" and run.environment == world.prod_a
    event = Event.objects.get(public_id=data["event_id"])
    assert event.name == "inngest/function.invoked" and event.user == {"id": "u1"}
    assert event.data == {"order": 42, "_inngest": {"fn_id": "app-g"}}
    assert run.jobs.count() == 1  # queued: the engine calls the app next
    # An empty body is an empty payload.
    assert api.post("/v1/functions/app-f/invoke", keys["signing"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        '{"data": [1]}',
        '{"user": "me"}',
        '{"payload": {}}',
        '{"data": {"x": "a\\u0000b"}}',
        '{"data": {"x": NaN}}',
        '{"user": {"x": "\\ud800"}}',
    ],
)
def test_invoke_refuses_a_bad_body_and_stores_nothing(api, client, keys, app_a, body):
    response = client.post(
        "/v1/functions/app-f/invoke",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {keys['write']}",
    )
    assert response.status_code == 400 and response.json()["status"] == 400
    assert not Run.objects.exists() and not Event.objects.exists()


def test_invoke_needs_write_access_a_live_function_and_its_environment(api, world, keys, app_a):
    url = "/v1/functions/app-f/invoke"
    assert api.post(url, keys["read"]).status_code == 403
    assert api.post(url, keys["other_env"]).status_code == 404
    assert api.post(url, keys["other_org"]).status_code == 404
    assert api.post("/v1/functions/app-nope/invoke", keys["write"]).status_code == 404
    app_set_archived(app=app_a, actor=world.owner, archived=True)
    assert api.post(url, keys["write"]).status_code == 409
    assert not Run.objects.exists()


def test_an_oversized_payload_is_413(api, keys, app_a):
    big = {"data": {"blob": "x" * (600 * 1024)}}
    response = api.post("/v1/functions/app-f/invoke", keys["write"], body=big)
    assert response.status_code == 413 and "at most 524288" in response.json()["error"]
    huge = {"data": {"blob": "x" * (3 * 1024 * 1024)}}
    assert api.post("/v1/functions/app-f/invoke", keys["write"], body=huge).status_code == 413
    assert not Run.objects.exists()
