"""Runs of a real Python SDK app (cloud mode: every request signed, every answer verified),
on both executor backends."""

import hashlib
import time
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from controlplane.engine.settle import events_accept
from controlplane.events.models import Event
from controlplane.registry.models import Function
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import (
    EVENT_KEY,
    SIGNING_KEY,
    CeleryWorker,
    celery_broker_url,
    paths_served,
    use_event_key,
    use_signing_key,
    wait_for_run,
)
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "py-engine"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def py_app(app_env):
    app = python_app({**app_env, "APP_ID": APP}, script="engine_app.py").start()
    yield app
    app.stop()


@pytest.fixture
def env(world, py_app, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def send(environment, name, data=None) -> Event:
    [ingested] = events_accept(
        environment=environment, payloads=[{"name": name, "data": data or {}}], source="api"
    )
    return ingested.event


def run_of(event: Event, slug: str = "") -> Run:
    def find():
        runs = Run.objects.filter(events=event)
        return runs.filter(function__slug=slug).first() if slug else runs.first()

    return wait_for_run(find)


def run_of_a_mebibyte_batch(settings, live_server_url, env, name: str) -> tuple[Run, list[int]]:
    """Eight events of about 1 MiB each, posted in one request with the caps raised, and the
    run of the batch they fill; the sizes of their blobs. The run's calls are far over
    MAX_REQUEST_BYTES, so each says `use_api` and carries none of the events: the test's
    assertions say whether the SDK fetched them, and from where."""
    settings.EVENT_API_MAX_EVENT_BYTES = 2 * MIB
    settings.EVENT_API_MAX_BODY_BYTES = 16 * MIB
    sizes = [MIB - 100 * n for n in range(8)]
    batch = [{"name": name, "data": {"blob": "x" * size}} for size in sizes]
    sent = httpx.post(f"{live_server_url}/e/{EVENT_KEY}", json=batch, timeout=60)
    assert sent.status_code == 200, sent.text
    return run_of(env.events.get(public_id=sent.json()["ids"][0])), sizes


def history(run: Run) -> list[str]:
    return list(run.history.values_list("kind", flat=True))


def calls_logged(app_env, name: str) -> list[float]:
    """When the app recorded running a step (it appends a timestamp per execution)."""
    return [
        float(line)
        for line in Path(app_env["APP_STATE_DIR"], f"{name}.log").read_text().splitlines()
    ]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def test_a_chain_of_steps_runs_to_completion(env):
    run = run_of(send(env, "engine/chain", {"n": 1}))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == {"sum": 2 + 4, "run_id": run.public_id}
    steps = {s.name: s for s in Step.objects.filter(run=run)}
    assert {name: s.memo for name, s in steps.items()} == {
        "a": {"data": 2},
        "b": {"data": 4},
        "c": {"data": {"a": 2, "b": 4}},
    }
    assert [s.step_id for s in sorted(steps.values(), key=lambda s: s.memo_seq)] == [
        sha1("a"),
        sha1("b"),
        sha1("c"),
    ]
    kinds = history(run)
    assert (
        kinds[:2] == [HistoryKind.SCHEDULED, HistoryKind.STARTED]
        and kinds[-1] == HistoryKind.COMPLETED
    )
    assert kinds.count(HistoryKind.STEP_COMPLETED) == 3
    assert run.sdk_version == 2 and run.function_version == run.function.version


def test_an_event_with_meta_runs_on_the_python_sdk(env, live_server_url):
    """The SDK (0.5.19) neither sends nor reads `meta`; its strict request model must still
    accept the events that carry it."""
    meta = {"sessions": {"conversation": "c-1"}}
    url = f"{live_server_url}/e/{EVENT_KEY}"
    sent = httpx.post(url, json=[{"name": "engine/chain", "data": {"n": 1}, "meta": meta}])
    run = run_of(env.events.get(public_id=sent.json()["ids"][0]))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.event.meta == meta and run.output["sum"] == 2 + 4


def test_repeated_step_ids_get_the_sdks_indexed_hashes(env):
    run = run_of(send(env, "engine/dupes"))
    assert run.output == [1, 2, 3]
    assert set(Step.objects.filter(run=run).values_list("step_id", flat=True)) == {
        sha1("dup"),
        sha1("dup:1"),
        sha1("dup:2"),
    }


def test_a_sleep_is_a_durable_timer(env):
    started = time.monotonic()
    run = run_of(send(env, "engine/nap", {"seconds": 1}))
    assert run.output == "awake again"
    assert time.monotonic() - started >= 1
    nap = Step.objects.get(run=run, name="nap")
    assert nap.kind == "sleep" and nap.memo is None and nap.has_memo and "until" in nap.details
    assert HistoryKind.SLEEPING in history(run)


def test_sleep_until_an_absolute_time(env):
    from datetime import UTC, datetime, timedelta

    until = datetime.now(UTC) + timedelta(seconds=1)
    run = run_of(send(env, "engine/nap-until", {"until": until.isoformat()}))
    assert run.output == "woke" and run.ended_at >= until


def test_wait_for_event_resumes_on_the_matching_event_only(env):
    event = send(env, "engine/approval", {"order": 1})
    waiting = wait_for_run(
        lambda: Run.objects.filter(events=event).first(), status=RunStatus.WAITING
    )
    send(env, "engine/approved", {"order": 2, "by": "mallory"})
    send(env, "engine/approved", {"order": 1, "by": "ada"})
    run = wait_for_run(waiting)
    assert run.output == {"approved_by": "ada"}
    step = Step.objects.get(run=run, name="approved")
    assert step.memo["name"] == "engine/approved" and step.memo["data"] == {"order": 1, "by": "ada"}


def test_wait_for_event_times_out_with_null(env):
    run = run_of(send(env, "engine/approval", {"order": 7, "timeout": 1}))
    assert run.output == {"approved_by": None}
    assert Step.objects.get(run=run, name="approved").memo is None


def test_invoke_returns_the_child_result_or_its_error(env):
    run = run_of(send(env, "engine/parent", {"x": 21}), slug=f"{APP}-parent")
    assert run.output == {"child": 42}
    child = Run.objects.get(parent=run)
    assert child.function.slug == f"{APP}-child" and child.event.name == "inngest/function.invoked"
    assert child.event.data["_inngest"]["correlation_id"] == f"{run.public_id}.{sha1('call-child')}"

    failing = run_of(send(env, "engine/parent", {"x": 1, "explode": True}), slug=f"{APP}-parent")
    assert failing.status == RunStatus.COMPLETED
    assert "child exploded" in failing.output["error"]


def test_invoking_a_paused_function_fails_the_step_and_starts_no_run(env):
    Function.objects.filter(slug=f"{APP}-child").update(paused_at=timezone.now())
    run = run_of(send(env, "engine/parent", {"x": 21}), slug=f"{APP}-parent")
    # The parent catches the invoke's error and returns it (see engine_app.parent).
    assert run.status == RunStatus.COMPLETED and "is paused" in run.output["error"]
    assert not Run.objects.filter(function__slug=f"{APP}-child").exists()


def test_send_event_goes_through_the_event_api(env):
    run = run_of(send(env, "engine/sender"), slug=f"{APP}-sender")
    assert run.status == RunStatus.COMPLETED, run.error
    [sent_id] = run.output
    sent = Event.objects.get(environment=env, public_id=sent_id)
    assert sent.name == "engine/chain" and sent.source == "api"
    assert run_of(sent).output["sum"] == 11 + 22


@pytest.mark.parametrize("race", [False, True])
def test_parallel_steps_fan_in(env, race):
    run = run_of(send(env, "engine/fanout", {"race": race}))
    assert run.output == [0, 1, 4, 9]
    assert Step.objects.filter(run=run, has_memo=True).count() == 4


def test_a_failing_step_is_retried_then_succeeds(env, py_app, app_env):
    run = run_of(send(env, "engine/flaky"))
    assert run.output == {"succeeded_on": 2}
    kinds = history(run)
    assert (
        kinds.count(HistoryKind.STEP_ERRORED) == 2 and kinds.count(HistoryKind.STEP_COMPLETED) == 1
    )
    assert len(calls_logged(app_env, f"flaky-{run.public_id}")) == 3


def test_exhausted_retries_fail_the_run_and_trigger_on_failure(env, app_env):
    run = run_of(send(env, "engine/doomed"), slug=f"{APP}-doomed")
    assert run.status == RunStatus.FAILED
    assert run.error["name"] == "ZeroDivisionError"
    assert Step.objects.get(run=run, name="explode").memo["error"]["name"] == "ZeroDivisionError"
    failed = Event.objects.get(environment=env, name="inngest/function.failed")
    assert failed.data["run_id"] == run.public_id and failed.data["function_id"] == f"{APP}-doomed"
    handler = run_of(failed, slug=f"{APP}-doomed-failure")
    assert handler.status == RunStatus.COMPLETED, handler.error
    assert Event.objects.filter(
        environment=env, name="inngest/function.finished", data__run_id=run.public_id
    ).exists()


def test_a_non_retriable_error_fails_at_once(env, app_env):
    run = run_of(send(env, "engine/hopeless"))
    assert run.status == RunStatus.FAILED and "not worth retrying" in run.error["message"]
    assert len(calls_logged(app_env, f"hopeless-{run.public_id}")) == 1


def test_retry_after_is_honoured(env, app_env):
    run = run_of(send(env, "engine/later"))
    assert run.output == 1
    calls = calls_logged(app_env, f"later-{run.public_id}")
    assert calls[1] - calls[0] >= 1.8


def test_cancel_on_a_matching_event(env):
    event = send(env, "engine/cancellable", {"id": "A"})
    sleeping = wait_for_run(
        lambda: Run.objects.filter(events=event).first(), status=RunStatus.SLEEPING
    )
    send(env, "engine/stop", {"id": "B"})
    assert Run.objects.get(pk=sleeping.pk).status == RunStatus.SLEEPING
    send(env, "engine/stop", {"id": "A"})
    run = wait_for_run(sleeping)
    assert run.status == RunStatus.CANCELLED and "engine/stop" in run.error["message"]
    assert Event.objects.filter(environment=env, name="inngest/function.cancelled").exists()
    assert not run.jobs.exists()


def test_a_finish_timeout_cancels_the_run(env):
    run = run_of(send(env, "engine/deadline"))
    assert run.status == RunStatus.CANCELLED and "timeouts.finish" in run.error["message"]


def test_large_state_goes_through_use_api(env, settings):
    run = run_of(send(env, "engine/big", {"size": 300_000}))
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == 300_000


def test_a_wildcard_trigger_runs_for_the_events_under_its_prefix_only(env):
    others = [send(env, "other/x"), send(env, "wildx/y")]
    for name in ("wild/anything", "wild/a/b.c"):
        run = run_of(send(env, name), slug=f"{APP}-wild")
        assert run.status == RunStatus.COMPLETED, run.error
        assert run.output == name
    assert not Run.objects.filter(events__in=others).exists()
    assert Run.objects.filter(function__slug=f"{APP}-wild").count() == 2


def test_a_batch_of_eight_mebibyte_events_is_fetched_through_use_api(
    env, settings, live_server_url
):
    with paths_served() as paths:
        run, sizes = run_of_a_mebibyte_batch(settings, live_server_url, env, "engine/big-batch")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == sizes
    assert f"/v0/runs/{run.public_id}/batch" in paths


def test_rest_api_reads_and_cancels_runs_with_the_signing_key(env, live_server_url, world):
    event = send(env, "engine/cancellable", {"id": "rest"})
    run = wait_for_run(lambda: Run.objects.filter(events=event).first(), status=RunStatus.SLEEPING)
    auth = {"Authorization": f"Bearer {SIGNING_KEY}"}
    listed = httpx.get(f"{live_server_url}/v1/events/{event.public_id}/runs", headers=auth).json()
    assert [r["run_id"] for r in listed["data"]] == [run.public_id]
    assert listed["data"][0]["status"] == "Running"
    other = httpx.get(
        f"{live_server_url}/v1/runs/{run.public_id}", headers={"Authorization": "Bearer nope"}
    )
    assert other.status_code == 401
    cancelled = httpx.delete(f"{live_server_url}/v1/runs/{run.public_id}", headers=auth).json()[
        "data"
    ]
    assert cancelled["status"] == "Cancelled" and cancelled["function_id"] == f"{APP}-cancellable"
    assert wait_for_run(run).status == RunStatus.CANCELLED


def test_cron_triggers_fire_through_the_beat_schedule(env, engine):
    from datetime import timedelta

    from django.db.models import F
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    from controlplane.registry.models import FunctionTrigger

    # As if the sync had come a minute earlier: this minute's fire is due now, to beat too.
    trigger = FunctionTrigger.objects.filter(function__slug=f"{APP}-minutely")
    trigger.update(cron_next_at=F("cron_next_at") - timedelta(minutes=1))
    task = PeriodicTask.objects.get(name__contains=f"{APP}-minutely")
    task.last_run_at = timezone.now() - timedelta(minutes=2)
    task.save()
    # The local backend ticks through the schedule itself; Celery needs a beat process.
    beat = None
    if engine == "celery":
        beat = CeleryWorker(celery_broker_url(), ENGINE_ENV, beat=True).start()
    try:
        run = wait_for_run(
            lambda: Run.objects.filter(function__slug=f"{APP}-minutely").first(), timeout=30
        )
    finally:
        if beat:
            beat.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.event.name == "inngest/scheduled.timer" and run.output == {"cron": "* * * * *"}
    time.sleep(1.5)  # another tick of the same minute fires nothing
    assert Run.objects.filter(function__slug=f"{APP}-minutely").count() == 1


# Local only: the backoff below must be this test's, and a Celery worker keeps its own (0.01,
# whose four attempts can all pass before the app is back on a loaded machine).
@pytest.mark.parametrize("engine", ["local"], indirect=True)
def test_an_app_that_is_down_is_retried_until_it_is_back(world, app_env, engine, settings):
    settings.RETRY_BACKOFF_SCALE = 0.05  # about 0.75 s, 1.5 s, 3 s, 6 s between attempts
    app = python_app({**app_env, "APP_ID": "py-flaky-host"}, script="engine_app.py").start()
    use_signing_key(world.prod_a)
    try:
        assert (
            app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner).status
            == "success"
        )
    finally:
        app.stop()
    event = send(world.prod_a, "engine/chain", {"n": 5})
    wait_for_run(
        lambda: Run.objects.filter(events=event, history__kind=HistoryKind.RETRY_SCHEDULED).first(),
        status=RunStatus.QUEUED,
        timeout=10,
    )
    app.start()
    try:
        run = wait_for_run(lambda: Run.objects.filter(events=event).first(), timeout=30)
    finally:
        app.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    retry = run.history.filter(kind=HistoryKind.RETRY_SCHEDULED).first()
    assert "could not be reached" in retry.data["error"]["message"]


def test_dev_mode_runs_unsigned(world, live_server_url, engine, tmp_path):
    from controlplane.tenancy.services import environment_set_dev_mode

    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    app = python_app(
        {"INNGEST_DEV": live_server_url, "APP_ID": "py-dev", "APP_STATE_DIR": str(tmp_path)},
        script="engine_app.py",
    ).start()
    try:
        sync = app_sync_from_url(environment=world.dev_a, url=app.url, actor=world.owner)
        assert sync.status == "success", sync.error
        run = run_of(send(world.dev_a, "engine/chain", {"n": 2}))
    finally:
        app.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output["sum"] == 3 + 6
