"""Async checkpointing with the official TypeScript SDK (its default once the request carries
`ctx.fn_id`): steps run one after another inside one call, each posted to
/v1/checkpoint/{run}/async and stored as a classic step result would be. Plus the endpoint's
answers to bad, stale and foreign checkpoints, and a worker killed between two checkpoints."""

import hashlib
import json
import time

import httpx
import pytest

from controlplane.observability.models import SdkCall
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import HistoryKind, Job, JobKind, Run, RunStatus, Step, StepStatus
from tests.engine import test_crash as crash
from tests.engine.harness import SIGNING_KEY, use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import run_of, send
from tests.sdk_apps.processes import ts_app

pytestmark = pytest.mark.django_db(transaction=True)
executor_kind = crash.executor_kind  # a fixture: an executor process of each backend
APP = "ts-checkpoint"
PAUSE_MS = 2500  # the "slow" function's second step: long enough to kill a worker in


@pytest.fixture(scope="module")
def app(app_env):
    started = ts_app(
        {**app_env, "APP_ID": APP, "STEP_PAUSE_MS": str(PAUSE_MS)}, script="checkpoint_app.mjs"
    ).start()
    yield started
    started.stop()


@pytest.fixture
def synced(world, app):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


@pytest.fixture
def env(synced, engine):
    return synced


def calls(run) -> int:
    return SdkCall.objects.filter(run=run).count()


def completed_steps(run) -> list[str]:
    return list(
        run.history.filter(kind=HistoryKind.STEP_COMPLETED)
        .order_by("id")
        .values_list("step_name", flat=True)
    )


def test_steps_run_in_one_call_and_are_stored_as_classic_results(env):
    run = run_of(send(env, "tscp/three", {"n": 1}), slug=f"{APP}-three")
    classic = run_of(send(env, "tscp/three-classic", {"n": 1}), slug=f"{APP}-three-classic")
    for each in (run, classic):
        assert each.status == RunStatus.COMPLETED, each.error
        assert {k: each.output[k] for k in ("a", "b")} == {"a": 2, "b": 4}
        assert completed_steps(each) == ["a", "b", "c"]
        steps = Step.objects.filter(run=each)
        assert {s.name: s.memo for s in steps if s.name != "c"} == {
            "a": {"data": 2},
            "b": {"data": 4},
        }
        assert all(s.status == StepStatus.COMPLETED for s in steps)
    assert calls(run) == 1  # three steps and the return, one request
    assert calls(classic) == 4  # a call per step, then the return


def test_a_failing_step_is_retried_and_the_run_goes_on(env):
    run = run_of(send(env, "tscp/flaky"), slug=f"{APP}-flaky")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"before": "ok", "shaky": 2, "after": "done"}
    assert completed_steps(run) == ["before", "shaky", "after"]
    errored = run.history.get(kind=HistoryKind.STEP_ERRORED)
    assert errored.step_name == "shaky" and "shaky attempt 1" in json.dumps(errored.data)
    assert Step.objects.filter(run=run, name="before").count() == 1


def test_a_sleep_between_checkpointed_steps_is_a_durable_timer(env):
    run = run_of(send(env, "tscp/sleepy"), slug=f"{APP}-sleepy")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"first": 1, "second": 2}
    assert run.history.filter(kind=HistoryKind.SLEEPING).count() == 1
    assert completed_steps(run)[-1] == "second"


def test_a_checkpoint_the_server_refuses_falls_back_to_the_classic_answer(env, settings):
    """The SDK retries a refused checkpoint, then reports the step in its answer instead."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # the checkpoint of "big" is too large
    run = run_of(send(env, "tscp/bulky", {"bytes": 100_000}), slug=f"{APP}-bulky")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"length": 100_000, "after": "done"}
    assert Step.objects.get(run=run, name="big").memo == {"data": "x" * 100_000}
    assert completed_steps(run) == ["big", "after"]
    assert calls(run) >= 2  # "big" came back in a call's answer, not a checkpoint


# The endpoint itself, called as the SDK calls it, for a run whose call is in flight (queued
# and never executed: no executor runs in these tests).


def _step_run(name: str, data) -> dict:
    return {
        "op": "StepRun",
        "id": hashlib.sha1(name.encode()).hexdigest(),
        "name": name,
        "displayName": name,
        "data": data,
    }


@pytest.fixture
def in_flight(synced):
    run = Run.objects.get(events=send(synced, "tscp/three", {"n": 1}))
    job = Job.objects.get(run=run, kind=JobKind.CALL)
    body = {
        "run_id": run.public_id,
        "fn_id": str(run.function.public_id),
        "qi_id": str(job.pk),
        "request_id": "01REQUEST",
        "generation_id": 0,
        "request_started_at": int(time.time() * 1000),
        "steps": [_step_run("a", 2)],
        "ts": int(time.time() * 1000),
    }
    return run, job, body


def _post(live_server_url, run_id: str, body, *, key: str | None = SIGNING_KEY):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = f"{live_server_url}/v1/checkpoint/{run_id}/async"
    return httpx.post(url, content=raw, headers=headers)


def test_a_checkpoint_stores_its_step_once(in_flight, live_server_url):
    run, job, body = in_flight
    for _ in range(2):  # the SDK retries a checkpoint it did not hear back from
        response = _post(live_server_url, run.public_id, body)
        assert response.status_code == 200, response.text
    step = Step.objects.get(run=run)
    assert (step.name, step.memo, step.status) == ("a", {"data": 2}, StepStatus.COMPLETED)
    assert completed_steps(run) == ["a"]
    run.refresh_from_db()
    assert run.started_at is not None
    assert Job.objects.filter(pk=job.pk).exists()  # the call goes on


BAD = [
    (b"not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    ({"run_id": "01OTHER"}, "`run_id` must be the run of the URL"),
    ({"fn_id": "01NOTTHEFUNCTION"}, "`fn_id` is not the run's function"),
    ({"qi_id": "job-7"}, "`qi_id` must be"),
    ({"steps": []}, "`steps` must be a non-empty list"),
    ({"steps": [{"id": "x"}]}, "`op` field"),
    ({"steps": [{"op": "Sleep", "id": "x", "opts": {"duration": "1s"}}]}, "opcode: Sleep"),
    ({"steps": [{"op": "StepRun", "data": 1}]}, "needs an `id`"),
    # A good op beside a bad one: neither is stored.
    ({"steps": [_step_run("a", 2), {"op": "WaitForEvent", "id": "w"}]}, "opcode: WaitForEvent"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_a_bad_checkpoint_is_refused_whole(in_flight, live_server_url, change, message):
    run, _job, body = in_flight
    sent = change if isinstance(change, bytes) else {**body, **change}
    response = _post(live_server_url, run.public_id, sent)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert not Step.objects.filter(run=run).exists()
    assert not run.history.filter(kind=HistoryKind.STEP_COMPLETED).exists()


def test_a_checkpoint_for_a_call_that_is_over_is_stale(in_flight, live_server_url):
    run, job, body = in_flight
    job.delete()  # its answer was applied: another call carries the run on
    response = _post(live_server_url, run.public_id, body)
    assert response.status_code == 409 and "Stale dispatch" in response.json()["error"]
    assert not Step.objects.filter(run=run).exists()


def test_checkpoints_need_the_environments_key_and_its_own_run(world, in_flight, live_server_url):
    run, _job, body = in_flight
    for key in (None, "signkey-prod-" + "0" * 64):
        assert _post(live_server_url, run.public_id, body, key=key).status_code == 401
    other = "signkey-prod-" + "ab" * 32
    use_signing_key(world.prod_b, other)
    response = _post(live_server_url, run.public_id, body, key=other)
    assert response.status_code == 404  # another tenant's run does not exist for this key
    assert not Step.objects.filter(run=run).exists()


def test_a_worker_killed_between_two_checkpoints_loses_nothing(synced, executor_kind):
    first = crash.executor_process(executor_kind).start()
    try:
        event = send(synced, "tscp/slow")
        deadline = time.monotonic() + 20
        while not Step.objects.filter(run__events=event, name="first").exists():
            assert time.monotonic() < deadline, "the first step was never checkpointed"
            time.sleep(0.05)
        time.sleep(0.3)  # the second step is running inside the app's call now
        first.kill()
    finally:
        first.kill()
    second = crash.executor_process(executor_kind).start()
    try:
        run = wait_for_run(Run.objects.get(events=event), timeout=40)
    finally:
        second.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    steps = {step.name: step for step in Step.objects.filter(run=run)}
    assert sorted(steps) == ["first", "second"]  # each stored once
    assert run.output["first"] == 1  # checkpointed before the kill: replayed, not run again
    assert run.output["second"] == steps["second"].memo["data"]
    assert run.history.filter(kind=HistoryKind.STEP_COMPLETED).count() == 2
