"""Crash safety: the executor dies (SIGKILL) mid-step or mid-sleep; runs still finish, and no
step is stored twice."""

import time
from datetime import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import (
    SIGNING_KEY,
    CeleryWorker,
    ServerProcess,
    celery_broker_url,
    use_event_key,
    use_signing_key,
    wait_for_run,
)
from tests.engine.test_python_sdk import send
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "py-crash"


@pytest.fixture(scope="module")
def slow_app(app_env):
    app = python_app(
        {**app_env, "APP_ID": APP, "APP_SLOW_SECONDS": "2"}, script="engine_app.py"
    ).start()
    yield app
    app.stop()


@pytest.fixture
def env(world, slow_app):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    assert (
        app_sync_from_url(environment=world.prod_a, url=slow_app.url, actor=world.owner).status
        == "success"
    )
    return world.prod_a


def executor_process(kind: str):
    """A fresh executor process of the given kind (local: the server; celery: a worker)."""
    if kind == "local":
        return ServerProcess(ENGINE_ENV)
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("the Celery backend tests need Redis (set REDIS_URL)")
    return CeleryWorker(broker, ENGINE_ENV)


@pytest.fixture(params=["local", "celery"])
def executor_kind(request):
    if request.param == "celery":
        request.getfixturevalue("celery_publisher")
    return request.param


def _wait_for_lines(path: Path, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path.name} never reached {count} lines")


def test_a_worker_killed_mid_step_loses_only_its_lease(env, executor_kind, app_env, client):
    """The call is made again as the next attempt, and the step's times are those of the attempt
    that produced its result."""
    first = executor_process(executor_kind).start()
    try:
        event = send(env, "engine/slow")
        run = wait_for_run(
            lambda: Run.objects.filter(events=event).first(), status=RunStatus.QUEUED, timeout=5
        )
        log = Path(app_env["APP_STATE_DIR"]) / f"slow-{run.public_id}.log"
        _wait_for_lines(log, 1)  # the step is running inside the app right now
        first.kill()
    finally:
        first.kill()
    killed_at = timezone.now()
    second = executor_process(executor_kind).start()
    try:
        run = wait_for_run(run, timeout=40)
    finally:
        second.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == "held"
    # The call was made again (at-least-once), the result stored once (exactly-once).
    assert len(log.read_text().splitlines()) >= 2
    assert Step.objects.filter(run=run, name="hold").count() == 1
    assert run.history.filter(kind=HistoryKind.STEP_COMPLETED).count() == 1
    auth = {"HTTP_AUTHORIZATION": f"Bearer {SIGNING_KEY}"}
    [hold] = client.get(f"/v1/runs/{run.public_id}/steps", **auth).json()["data"]
    assert [(a["attempt"], a["status"]) for a in hold["attempts"]] == [(1, "completed")]
    started, ended = (datetime.fromisoformat(hold[k]) for k in ("started_at", "ended_at"))
    assert killed_at <= started <= ended
    [lost] = run.history.filter(kind=HistoryKind.WORKER_LOST)  # the discovery call that ran it
    assert lost.attempt == 0 and lost.data["error"]["name"] == "WorkerLostError"


def test_a_concurrency_slot_held_by_a_killed_worker_is_freed_by_its_lease(
    env, executor_kind, app_env
):
    """Limit 1: the killed worker's call held the only slot; once its lease expires the slot
    is free again and both runs finish (nothing leaked), one call at a time."""
    first = executor_process(executor_kind).start()
    try:
        runs = [Run.objects.get(events=send(env, "engine/slow-one", {"n": n})) for n in range(2)]
        logs = [Path(app_env["APP_STATE_DIR"]) / f"slow-one-{run.public_id}.log" for run in runs]
        deadline = time.monotonic() + 20
        while not any(log.exists() for log in logs) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # a second call, were the limit not kept, would have started by now
        assert sum(log.exists() for log in logs) == 1  # the limit let one call in
        first.kill()
    finally:
        first.kill()
    second = executor_process(executor_kind).start()
    try:
        runs = [wait_for_run(run, timeout=60) for run in runs]
    finally:
        second.stop()
    assert [run.status for run in runs] == [RunStatus.COMPLETED] * 2, [r.error for r in runs]
    starts = sorted(float(line) for log in logs for line in log.read_text().splitlines())
    # The killed call, its retry and the other run's call, never two within one 2 s hold.
    assert len(starts) >= 3
    assert all(b - a >= 1.9 for a, b in zip(starts, starts[1:], strict=False)), starts


def test_a_sleep_that_ends_while_the_executor_is_down_fires_once_after_restart(env, executor_kind):
    first = executor_process(executor_kind).start()
    try:
        event = send(env, "engine/nap", {"seconds": 1})
        run = wait_for_run(
            lambda: Run.objects.filter(events=event).first(), status=RunStatus.SLEEPING
        )
    finally:
        first.kill()
    time.sleep(2)  # the wake time passes while nothing runs
    assert Run.objects.get(pk=run.pk).status == RunStatus.SLEEPING
    second = executor_process(executor_kind).start()
    try:
        run = wait_for_run(run)
    finally:
        second.stop()
    assert run.output == "awake again"
    kinds = list(run.history.values_list("kind", flat=True))
    assert kinds.count(HistoryKind.SLEEPING) == 1
    assert Step.objects.filter(run=run, name="after").count() == 1
    assert Step.objects.get(run=run, name="nap").has_memo
