"""The REST API over real SDK runs: the step history of a retried step, and invoking."""

import httpx
import pytest

from controlplane.keys.models import ApiAccess
from controlplane.keys.services import api_key_create
from controlplane.runs.models import Run, RunStatus
from tests.api.openapi_check import assert_documented
from tests.engine import test_python_sdk as sdk
from tests.engine.harness import wait_for_run
from tests.engine.test_python_sdk import APP, run_of, send

pytestmark = pytest.mark.django_db(transaction=True)
py_app, env = sdk.py_app, sdk.env


@pytest.fixture
def call(env, world, live_server_url):
    _key, secret = api_key_create(
        environment=env, actor=world.owner, name="script", access=ApiAccess.READ_WRITE
    )

    def call(method: str, path: str, **kwargs):
        response = httpx.request(
            method, live_server_url + path, headers={"Authorization": f"Bearer {secret}"}, **kwargs
        )
        assert_documented(method, path, response)
        return response

    return call


def test_the_steps_of_a_retried_step_show_each_attempt(env, engine, call):
    run = run_of(send(env, "engine/flaky"))
    assert run.status == RunStatus.COMPLETED
    [shaky] = call("GET", f"/v1/runs/{run.public_id}/steps").json()["data"]
    assert shaky["name"] == "shaky" and shaky["status"] == "Completed" and shaky["output"] == 2
    attempts = [(a["attempt"], a["status"]) for a in shaky["attempts"]]
    assert attempts == [(0, "errored"), (1, "errored"), (2, "completed")]
    assert "failing on attempt 0" in shaky["attempts"][0]["error"]["message"]
    detail = call("GET", f"/v1/runs/{run.public_id}").json()["data"]
    assert detail["status"] == "Completed" and detail["output"] == {"succeeded_on": 2}


def test_invoking_through_the_api_runs_the_function(env, engine, call):
    response = call("POST", f"/v1/functions/{APP}-chain/invoke", json={"data": {"n": 3}})
    assert response.status_code == 200, response.text
    run = wait_for_run(Run.objects.get(public_id=response.json()["data"]["run_id"]))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"sum": 4 + 8, "run_id": run.public_id}
