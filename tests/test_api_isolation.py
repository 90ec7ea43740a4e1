"""Machine endpoints answer by key: the wrong key is 401, another environment's ids are 404."""

import pytest

from controlplane.engine.create import run_create
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.signatures import bearer_hash
from controlplane.registry.services import app_register
from controlplane.runs.models import Run, RunStatus
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_a(world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f")]),
        kind="out_of_band",
    )
    assert sync.status == "success", sync.error
    [ingested] = events_ingest(
        environment=world.prod_a, payloads=[{"name": "test/f"}], source=EventSource.API
    )
    return run_create(function=world.prod_a.functions.get(), events=[ingested.event])


def bearer(environment, *, hashed: bool = True) -> dict:
    key = active_signing_key(environment)
    return {"HTTP_AUTHORIZATION": f"Bearer {bearer_hash(key) if hashed else key}"}


@pytest.mark.parametrize(
    "url",
    ["/v0/runs/{run}/batch", "/v0/runs/{run}/actions", "/v1/runs/{run}", "/v1/events/{event}/runs"],
)
def test_another_environments_key_gets_404_and_no_key_gets_401(client, world, run_a, url):
    path = url.format(run=run_a.public_id, event=run_a.event.public_id)
    assert client.get(path, **bearer(world.prod_a)).status_code == 200
    assert client.get(path, **bearer(world.prod_a, hashed=False)).status_code == 200
    for other in (world.dev_a, world.prod_b):
        response = client.get(path, **bearer(other))
        assert response.status_code == 404
        assert response.json()["status"] == 404
    response = client.get(path, HTTP_AUTHORIZATION="Bearer " + "0" * 64)
    assert response.status_code == 401 and "error" in response.json()
    assert client.get(path).status_code == 401


def test_the_sdk_fetches_large_state_through_v0(client, world, run_a):
    batch = client.get(f"/v0/runs/{run_a.public_id}/batch", **bearer(world.prod_a)).json()
    assert batch == [run_a.event.as_sdk_payload()]
    assert client.get(f"/v0/runs/{run_a.public_id}/actions", **bearer(world.prod_a)).json() == {}


def test_another_environment_cannot_cancel_a_run(client, world, run_a):
    assert client.delete(f"/v1/runs/{run_a.public_id}", **bearer(world.prod_b)).status_code == 404
    assert Run.objects.get(pk=run_a.pk).status == RunStatus.QUEUED
    response = client.delete(f"/v1/runs/{run_a.public_id}", **bearer(world.prod_a))
    assert response.json()["data"]["status"] == "Cancelled"
    assert client.post(f"/v1/runs/{run_a.public_id}", **bearer(world.prod_a)).status_code == 405


def test_archived_apps_and_removed_functions_start_no_runs(world):
    from controlplane.engine.settle import events_accept
    from controlplane.registry.services import app_set_archived

    app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f")]),
        kind="out_of_band",
    )
    app = world.prod_a.apps.get()
    app_set_archived(app=app, actor=world.owner, archived=True)
    events_accept(environment=world.prod_a, payloads=[{"name": "test/f"}], source=EventSource.API)
    assert not Run.objects.exists()
    app_set_archived(app=app, actor=world.owner, archived=False)
    events_accept(environment=world.prod_a, payloads=[{"name": "test/f"}], source=EventSource.API)
    assert Run.objects.count() == 1
    app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "g")]),
        kind="out_of_band",
    )
    events_accept(environment=world.prod_a, payloads=[{"name": "test/f"}], source=EventSource.API)
    assert Run.objects.count() == 1
