"""Durable endpoints with the official TypeScript SDK (`inngest.endpoint`, `inngest/node`): an HTTP
route's steps run inside its own request and are checkpointed to /v1/checkpoint; a sleep or a
retry turns the run async, the caller is redirected to the run's output, and the engine calls
the route back to go on. Plus the endpoints' answers to bad, foreign and stale checkpoints."""

import json
import time

import httpx
import pytest

from controlplane.engine.endpoints import ENDPOINT_EVENT, ENDPOINT_FRAMEWORK
from controlplane.ids import new_ulid
from controlplane.keys.signatures import bearer_hash
from controlplane.registry.models import App, Function
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step, StepStatus
from tests.engine.harness import SIGNING_KEY, use_signing_key, wait_for_run
from tests.sdk_apps.processes import ts_app

pytestmark = pytest.mark.django_db(transaction=True)
OTHER_KEY = "signkey-prod-" + "ab" * 32


@pytest.fixture(scope="module")
def app(app_env):
    started = ts_app({**app_env, "APP_ID": "ts-endpoints"}, script="endpoint_app.mjs").start()
    yield started
    started.stop()


@pytest.fixture
def env(world, app, engine):
    use_signing_key(world.prod_a)
    return world.prod_a


def route(app, path: str) -> str:
    return f"http://127.0.0.1:{app.port}{path}"


def run_of(path: str) -> Run:
    return Run.objects.select_related("function").get(function__name=f"GET {path}")


def ran(app, key: str) -> int:
    return httpx.get(route(app, "/ran"), params={"key": key}).json()


def test_steps_run_in_the_request_and_are_stored_as_classic_results(env, app):
    answer = httpx.get(route(app, "/api/steps"), params={"n": 2}, timeout=30)
    assert answer.status_code == 200 and answer.json() == {"a": 3, "b": 6}
    run = wait_for_run(lambda: run_of("/api/steps"))
    assert run.status == RunStatus.COMPLETED and run.environment == env
    assert run.event.name == ENDPOINT_EVENT and run.event.data["query_params"] == "n=2"
    steps = {s.name: s for s in Step.objects.filter(run=run)}
    assert {name: s.memo for name, s in steps.items()} == {"a": {"data": 3}, "b": {"data": 6}}
    assert all(s.status == StepStatus.COMPLETED for s in steps.values())
    kinds = list(run.history.order_by("id").values_list("kind", flat=True))
    assert kinds[:2] == [HistoryKind.SCHEDULED, HistoryKind.STARTED]
    assert kinds.count(HistoryKind.STEP_COMPLETED) == 2 and kinds[-1] == HistoryKind.COMPLETED
    assert run.jobs.count() == 0  # nothing ever queued: the route ran it all
    app_row = App.objects.get(environment=env, framework=ENDPOINT_FRAMEWORK)
    assert app_row.app_id == f"http://127.0.0.1:{app.port}" and app_row.sdk == "js:v4.24.0"
    assert run.function.app == app_row and run.function.is_endpoint


def finished_runs(path: str, count: int) -> list[Run]:
    """The route's runs once all `count` have ended: the SDK posts a route's return after it has
    answered the caller, and a test must not end (and flush the database) under that post."""
    runs = []
    deadline = time.monotonic() + 30
    while len(runs) < count or not all(r.is_finished for r in runs):
        assert time.monotonic() < deadline, f"{count} runs of {path} did not finish: {runs}"
        time.sleep(0.05)
        runs = list(Run.objects.filter(function__name=f"GET {path}"))
    return runs


def test_the_function_page_says_it_is_a_durable_endpoint(env, app, world, signed_in):
    assert httpx.get(route(app, "/api/steps"), timeout=30).status_code == 200
    finished_runs("/api/steps", 1)
    function = Function.objects.get(environment=env, name="GET /api/steps")
    page = signed_in(world.owner).get(f"/org-a/production/functions/{function.public_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Durable endpoint <code>GET /api/steps</code>" in html
    assert "requests to its route start its runs" in html


def test_a_second_request_to_the_route_reuses_its_function(env, app):
    for n in (1, 2):
        assert httpx.get(route(app, "/api/steps"), params={"n": n}, timeout=30).status_code == 200
    assert len(finished_runs("/api/steps", 2)) == 2
    functions = Function.objects.filter(environment=env, name="GET /api/steps")
    assert functions.count() == 1 and functions.get().version == 1


def test_a_sleep_turns_the_run_async_and_the_caller_gets_the_answer_after_it(env, app):
    key = new_ulid()  # the app counts step executions per key, across tests
    answer = httpx.get(route(app, "/api/sleepy"), params={"key": key}, timeout=30)
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert "/v1/http/runs/" in location and "token=" in location
    run = run_of("/api/sleepy")
    assert run.status in (RunStatus.SLEEPING, RunStatus.RUNNING)
    # The redirect target waits for the run: the server calls the route back after the sleep.
    # As from Inngest, the route's body comes as the JSON string the SDK reported it as.
    output = httpx.get(location, timeout=30)
    assert output.status_code == 200
    assert json.loads(output.json()) == {"first": 1, "second": 1}
    run = wait_for_run(run)
    assert run.status == RunStatus.COMPLETED
    # Memoized: never run again when the server calls the route back.
    assert ran(app, f"{key}/first") == 1 and ran(app, f"{key}/second") == 1
    stored = Step.objects.filter(run=run).values_list("name", "status")
    assert sorted(stored) == [
        ("first", StepStatus.COMPLETED),
        ("nap", StepStatus.COMPLETED),
        ("second", StepStatus.COMPLETED),
    ]


def test_a_failing_step_is_retried_by_the_server_calling_the_route_back(env, app):
    key = new_ulid()
    answer = httpx.get(route(app, "/api/flaky"), params={"key": key}, timeout=30)
    assert answer.status_code == 302
    output = httpx.get(answer.headers["location"], timeout=60)
    assert json.loads(output.json()) == {"shaky": 2}
    run = wait_for_run(run_of("/api/flaky"))
    assert run.status == RunStatus.COMPLETED
    errored = run.history.filter(kind=HistoryKind.STEP_ERRORED, step_name="shaky")
    assert errored.count() == 1 and "shaky attempt 1" in json.dumps(errored.get().data)
    assert ran(app, f"{key}/shaky") == 2


def test_a_step_that_must_not_retry_fails_the_run(env, app):
    answer = httpx.get(route(app, "/api/refused"), timeout=30)
    assert answer.status_code == 302
    output = httpx.get(answer.headers["location"], timeout=60)
    assert output.status_code == 500 and "not today" in output.text
    run = wait_for_run(run_of("/api/refused"))
    assert run.status == RunStatus.FAILED and "not today" in json.dumps(run.error)


# The endpoints' answers, without an app: signed with the environment's key, as the SDK is.


def post(live_server_url, path, body, key=SIGNING_KEY):
    return httpx.post(
        live_server_url + path,
        content=body if isinstance(body, bytes) else json.dumps(body),
        headers={"Authorization": f"Bearer {bearer_hash(key)}", "Content-Type": "application/json"},
    )


def new_run(run_id=None, **data):
    request = {"domain": "http://127.0.0.1:9", "method": "POST", "path": "/api/x", **data}
    return {
        "run_id": run_id or new_ulid(),
        "event": {"name": ENDPOINT_EVENT, "data": request},
        "steps": [{"op": "StepRun", "id": "s1", "name": "s1", "data": 1}],
        "request_version": 2,
        "retries": 1,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", "JSON object"),
        ({**new_run(), "run_id": "nope"}, "`run_id`"),
        ({**new_run(), "event": {"name": "app/other"}}, "`event`"),
        (new_run(domain="ftp://x"), "domain"),
        (new_run(method="BREW"), "method"),
        (new_run(path="api"), "path"),
        ({**new_run(), "retries": -1}, "`retries`"),
        ({**new_run(), "steps": [{"op": "StepRun"}]}, "needs an `id`"),
        ({**new_run(), "steps": "x"}, "`steps`"),
    ],
)
def test_a_bad_new_run_is_refused_whole(live_server_url, world, body, message):
    use_signing_key(world.prod_a)
    answer = post(live_server_url, "/v1/checkpoint", body)
    assert answer.status_code == 400 and message in answer.json()["error"]
    assert not Run.objects.exists() and not App.objects.filter(framework=ENDPOINT_FRAMEWORK)


def test_checkpoints_need_the_environments_key_and_stay_in_it(live_server_url, world):
    use_signing_key(world.prod_a)
    use_signing_key(world.prod_b, OTHER_KEY)
    assert (
        post(live_server_url, "/v1/checkpoint", new_run(), key="signkey-prod-00").status_code == 401
    )
    created = post(live_server_url, "/v1/checkpoint", new_run()).json()["data"]
    run_id, fn_id = created["run_id"], created["fn_id"]
    steps = {"run_id": run_id, "fn_id": fn_id, "steps": [{"op": "StepRun", "id": "s2", "data": 2}]}
    # Another environment's key does not reach the run: 404, nothing stored.
    foreign = post(live_server_url, f"/v1/checkpoint/{run_id}/steps", steps, key=OTHER_KEY)
    assert foreign.status_code == 404
    assert Step.objects.filter(run__public_id=run_id).count() == 1
    # The same run id again is refused; so is a fn_id that is not the run's.
    again = post(live_server_url, "/v1/checkpoint", new_run(run_id))
    assert again.status_code == 409
    wrong = post(live_server_url, f"/v1/checkpoint/{run_id}/steps", {**steps, "fn_id": "x"})
    assert wrong.status_code == 400
    assert post(live_server_url, f"/v1/checkpoint/{run_id}/steps", steps).status_code == 200
    done = {**steps, "steps": [{"op": "RunComplete", "id": "c", "data": {"status": 201}}]}
    assert post(live_server_url, f"/v1/checkpoint/{run_id}/steps", done).status_code == 200
    # A finished run takes no more steps.
    assert post(live_server_url, f"/v1/checkpoint/{run_id}/steps", steps).status_code == 409
    run = Run.objects.get(public_id=run_id)
    assert run.status == RunStatus.COMPLETED
    assert sorted(Step.objects.filter(run=run).values_list("step_id", flat=True)) == ["s1", "s2"]


def test_the_output_needs_the_runs_token(live_server_url, world):
    use_signing_key(world.prod_a)
    created = post(live_server_url, "/v1/checkpoint", new_run()).json()["data"]
    run_id = created["run_id"]
    done = {
        "op": "RunComplete",
        "id": "c",
        "data": {"status": 201, "body": "made", "headers": {"X-A": "1"}},
    }
    post(
        live_server_url,
        f"/v1/checkpoint/{run_id}/steps",
        {"run_id": run_id, "fn_id": created["fn_id"], "steps": [done]},
    )
    url = f"{live_server_url}/v1/checkpoint/{run_id}/output"
    answer = httpx.get(url, params={"token": created["token"]})
    assert (answer.status_code, answer.text, answer.headers["x-a"]) == (201, "made", "1")
    other = post(live_server_url, "/v1/checkpoint", new_run()).json()["data"]
    assert httpx.get(url, params={"token": other["token"]}).status_code == 401
    assert httpx.get(url, params={"token": "forged"}).status_code == 401
    assert httpx.get(url).status_code == 401
