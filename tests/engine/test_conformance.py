"""What today's official SDKs expect of the server beyond the classic protocol, with real apps
of both SDKs (cloud mode) on both executor backends: the ids they read from each call,
opcodes this server does not implement (they fail their step and the run goes on), and
Inngest's exact error shapes for invoke failures and `inngest/function.failed`."""

import httpx
import pytest

from controlplane.events.models import Event
from controlplane.observability.models import SdkCall
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import HistoryKind, RunStatus, Step, StepKind, StepStatus
from tests.engine.harness import SIGNING_KEY, use_event_key, use_signing_key
from tests.engine.test_python_sdk import run_of, send
from tests.sdk_apps.processes import python_app, ts_app

pytestmark = pytest.mark.django_db(transaction=True)
PY, TS = "py-conformance", "ts-conformance"


@pytest.fixture(scope="module")
def apps(app_env):
    started = {
        PY: python_app({**app_env, "APP_ID": PY}, script="conformance_app.py").start(),
        TS: ts_app({**app_env, "APP_ID": TS}, script="conformance_app.mjs").start(),
    }
    yield started
    for app in started.values():
        app.stop()


@pytest.fixture
def env(world, apps, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    for app in apps.values():
        sync = app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner)
        assert sync.status == "success", sync.error
    return world.prod_a


def completed(environment, name: str, slug: str):
    run = run_of(send(environment, name), slug=slug)
    assert run.status == RunStatus.COMPLETED, run.error
    return run


@pytest.mark.parametrize(
    "app,event,job,request_id",
    [
        (PY, "pyc/ids", "job_id", "request_id"),
        (TS, "tsc/ids", "jobId", "requestId"),
    ],
)
def test_every_call_hands_the_app_a_job_id_and_a_request_id(env, app, event, job, request_id):
    run = completed(env, event, f"{app}-ids")
    first, final = run.output["first"], run.output["final"]
    for ids in (first, final):
        assert isinstance(ids[job], str) and ids[job]
        assert isinstance(ids[request_id], str) and ids[request_id]
    # Two calls (the step, then the return): two jobs, two requests.
    assert first[job] != final[job] and first[request_id] != final[request_id]


UNSUPPORTED = [
    # (app, event, function, step name, opcode, what the function returns about it, calls:
    # the op, the step after it, the return; TS checkpoints that step in the returning call)
    (PY, "pyc/infer", "inference", "ask", "AIGateway", "inferred", 3),
    (TS, "tsc/fetch", "fetcher", "step.fetch: 127.0.0.1", "Gateway", "fetched", 2),
]


@pytest.mark.parametrize("app,event,function,step_name,opcode,field,calls", UNSUPPORTED)
def test_an_unsupported_opcode_fails_its_step_and_the_run_goes_on(
    env, app, event, function, step_name, opcode, field, calls
):
    run = completed(env, event, f"{app}-{function}")
    refused = run.output[field]
    assert refused["name"] == "UnsupportedOpcodeError"
    assert f"does not support the {opcode} opcode" in refused["message"]
    assert run.output["after"] == "still running"
    step = Step.objects.get(run=run, name=step_name)
    assert step.status == StepStatus.FAILED and not step.attempts  # never retried
    assert run.history.filter(kind=HistoryKind.STEP_FAILED, step_name=step_name).exists()
    assert SdkCall.objects.filter(run=run).count() == calls  # nothing called again and again


def test_a_wait_for_signal_is_refused_not_looped(env):
    run = completed(env, "tsc/signal", f"{TS}-signalled")
    assert "does not support the WaitForSignal opcode" in run.output["message"]
    assert SdkCall.objects.filter(run=run).count() == 2


def test_the_refusal_is_shown_in_the_api_and_on_the_run_page(
    env, live_server_url, client, signed_in, world
):
    run = completed(env, "tsc/fetch", f"{TS}-fetcher")
    auth = {"Authorization": f"Bearer {SIGNING_KEY}"}
    steps = httpx.get(f"{live_server_url}/v1/runs/{run.public_id}/steps", headers=auth).json()
    [fetch] = [s for s in steps["data"] if s["name"] == "step.fetch: 127.0.0.1"]
    assert "does not support the Gateway opcode" in fetch["error"]["message"]
    signed_in(world.owner)
    page = client.get(f"/{world.org_a.slug}/{env.slug}/runs/{run.public_id}/")
    assert "does not support the Gateway opcode" in page.content.decode()


@pytest.mark.parametrize("app", [PY, TS])
def test_invoking_a_function_that_does_not_exist_fails_the_invoke_step(env, app):
    prefix = "pyc" if app == PY else "tsc"
    run = completed(env, f"{prefix}/invoke-missing", f"{app}-missing")
    # Inngest's wording, which SDK code may match on.
    assert run.output["message"] == f"could not find function with ID: {app}-no-such-function"
    step = Step.objects.get(run=run, name="call-ghost")
    assert (step.kind, step.status) == (StepKind.INVOKE, StepStatus.FAILED)


@pytest.mark.parametrize("app", [PY, TS])
def test_an_invoke_that_times_out_fails_with_inngests_error(env, app):
    prefix = "pyc" if app == PY else "tsc"
    run = completed(env, f"{prefix}/invoke-timeout", f"{app}-impatient")
    assert run.output == {
        "name": "InngestInvokeTimeoutError",
        "message": "Timed out waiting for invoked function to complete",
    }


# TS answers its last attempt's error with 400 (not worth retrying), Python with 500.
@pytest.mark.parametrize("app,error_name,status", [(PY, "ValueError", 500), (TS, "Error", 400)])
def test_the_failed_event_carries_inngests_error_shape(env, app, error_name, status):
    prefix = "pyc" if app == PY else "tsc"
    failed_run = run_of(send(env, f"{prefix}/doomed"), slug=f"{app}-doomed")
    assert failed_run.status == RunStatus.FAILED
    failed = Event.objects.get(environment=env, name="inngest/function.failed")
    for error in (failed_run.error, failed.data["error"]):
        assert error["error"] == f"invalid status code: {status}"
        assert (error["name"], error["message"]) == (error_name, "doomed from the start")
        assert error["stack"] and "code" not in error
    handler = run_of(failed, slug=f"{app}-doomed-failure")
    assert handler.status == RunStatus.COMPLETED, handler.error
    assert handler.output["raw"] == failed.data["error"]
    if app == TS:  # TS deserializes it into the Error its onFailure handler receives
        assert handler.output["seen"] == {"name": error_name, "message": "doomed from the start"}
