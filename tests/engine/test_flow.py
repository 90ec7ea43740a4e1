"""Flow control, enforced as Inngest documents it, observed from inside a real SDK app."""

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from controlplane.engine.settle import events_accept
from controlplane.flow.models import Skip
from controlplane.flow.services import function_pause, function_resume, skipped_replay
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus
from tests.engine.harness import use_event_key, use_signing_key, wait_for_run
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "py-flow"


@pytest.fixture(scope="module")
def flow_app(app_env):
    app = python_app({**app_env, "APP_ID": APP}, script="flow_app.py").start()
    yield app
    app.stop()


@pytest.fixture
def env(world, flow_app, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=flow_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


@pytest.fixture
def state(app_env):
    """The app's observations, read back as JSON lines."""
    directory = Path(app_env["APP_STATE_DIR"])
    for old in directory.glob("*.jsonl"):
        old.unlink()

    def read(name: str) -> list[dict]:
        path = directory / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read


def send(environment, name: str, datas: list[dict]):
    payloads = [{"name": name, "data": data} for data in datas]
    return [
        i.event for i in events_accept(environment=environment, payloads=payloads, source="api")
    ]


def finished(slug: str, count: int, timeout: float = 60) -> list[Run]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(Run.objects.filter(function__slug=f"{APP}-{slug}").order_by("id"))
        if len(runs) >= count and all(run.is_finished for run in runs):
            return runs
        time.sleep(0.1)
    statuses = list(
        Run.objects.filter(function__slug=f"{APP}-{slug}").values_list("status", flat=True)
    )
    raise AssertionError(f"{slug}: expected {count} finished runs, have {statuses}")


def max_overlap(records: list[dict], hold: float) -> int:
    edges = sorted([(r["at"], 1) for r in records] + [(r["at"] + hold, -1) for r in records])
    peak = level = 0
    for _at, step in edges:
        level += step
        peak = max(peak, level)
    return peak


def test_concurrency_limits_calls_in_flight(env, state):
    send(env, "flow/limited", [{"n": n} for n in range(20)])
    assert all(run.status == RunStatus.COMPLETED for run in finished("limited", 20))
    observed = [r["in_flight"] for r in state("limited")]
    assert len(observed) == 20 and max(observed) == 3  # never more, and the limit is used


def test_a_key_makes_one_virtual_queue_per_value(env, state):
    send(env, "flow/keyed", [{"k": k} for k in "aaaabbbb"])
    finished("keyed", 8)
    assert max(r["in_flight"] for r in state("keyed-a")) == 2
    assert max(r["in_flight"] for r in state("keyed-b")) == 2
    # The two keys ran side by side: four steps at once.
    assert max_overlap(state("keyed-a") + state("keyed-b"), hold=0.45) == 4


def test_an_env_scoped_limit_is_shared_across_functions(env, state):
    send(env, "flow/shared-a", [{}] * 3)
    send(env, "flow/shared-b", [{}] * 3)
    finished("shared-a", 3)
    finished("shared-b", 3)
    assert max(r["in_flight"] for r in state("shared")) == 2


def test_throttle_spreads_starts_and_drops_none(env, state):
    send(env, "flow/throttled", [{"n": n} for n in range(5)])
    runs = finished("throttled", 5)
    assert len(runs) == 5
    # 2 per 2 s with the default burst of 1: starts are booked one a second ...
    booked = sorted(_booked_start(run) for run in runs)
    gaps = [(b - a).total_seconds() for a, b in zip(booked, booked[1:], strict=False)]
    assert all(abs(gap - 1) < 0.05 for gap in gaps), gaps
    # ... and the app is never called before a run's booked start (a busy worker may be later).
    called = {r["n"]: r["at"] for r in state("throttled")}
    for run in runs:
        assert called[run.event.data["n"]] >= _booked_start(run).timestamp() - 0.01


def _booked_start(run: Run) -> datetime:
    scheduled = run.history.get(kind="scheduled").data
    return (
        datetime.fromisoformat(scheduled["start_at"]) if "start_at" in scheduled else run.queued_at
    )


def test_rate_limit_skips_runs_over_the_limit(env):
    events = send(env, "flow/rated", [{"n": n} for n in range(5)])
    runs = finished("rated", 2)
    assert len(runs) == 2 and sorted(r.output for r in runs) == [0, 1]
    skipped = Skip.objects.filter(function__slug=f"{APP}-rated")
    assert skipped.count() == 3 and {s.reason for s in skipped} == {"rate_limited"}
    assert {s.event_id for s in skipped} == {e.pk for e in events[2:]}


def test_debounce_runs_once_with_the_last_event(env):
    for n in range(5):
        send(env, "flow/debounced", [{"k": "x", "n": n}])
        time.sleep(0.1)
    send(env, "flow/debounced", [{"k": "y", "n": 9}])
    runs = finished("debounced", 2)
    assert sorted(run.output for run in runs) == [4, 9]
    x_run = next(run for run in runs if run.output == 4)
    assert x_run.events.count() == 1


def test_debounce_timeout_caps_the_wait(env):
    for n in range(15):  # an event every 0.4 s keeps resetting the 1 s period, for 6 s
        send(env, "flow/capped", [{"n": n}])
        time.sleep(0.4)
    runs = sorted(finished("capped", 2), key=lambda run: run.started_at)
    # Without the 2 s timeout the period would never pass while events kept coming: the first
    # run starting with an event other than the last proves the cap (timing-free, so a busy
    # machine cannot fail it).
    assert runs[0].output < 14


def test_batches_fill_up_or_time_out(env):
    send(env, "flow/batched", [{"n": n} for n in range(25)])
    runs = finished("batched", 3)
    assert sorted(len(run.output) for run in runs) == [5, 10, 10]
    assert sorted(n for run in runs for n in run.output) == list(range(25))


def test_priority_lets_a_later_run_jump_the_queue(env, state):
    send(env, "flow/prioritized", [{"n": 0, "prio": 0}])
    deadline = time.monotonic() + 10
    while not state("prioritized-0") and time.monotonic() < deadline:
        time.sleep(0.05)  # run 0 holds the only slot; the others queue behind it
    send(env, "flow/prioritized", [{"n": 1, "prio": 0}, {"n": 2, "prio": 0}, {"n": 3, "prio": 600}])
    finished("prioritized", 4)
    started = {n: state(f"prioritized-{n}")[0]["at"] for n in range(4)}
    assert sorted(started, key=started.get) == [0, 3, 1, 2]


def test_idempotency_allows_one_run_per_key(env):
    send(env, "flow/idempotent", [{"user": "u1"}, {"user": "u1"}, {"user": "u2"}, {"user": "u1"}])
    runs = finished("idempotent", 2)
    assert sorted(run.output for run in runs) == ["u1", "u2"]
    assert Skip.objects.filter(reason="idempotent").count() == 2


@pytest.mark.parametrize("mode", ["skip", "cancel"])
def test_singleton(env, mode):
    slug = f"single-{mode}"
    [first] = send(env, f"flow/{slug}", [{"k": "a", "n": 1}])
    wait_for_run(lambda: Run.objects.filter(events=first).first(), status=RunStatus.SLEEPING)
    send(env, f"flow/{slug}", [{"k": "a", "n": 2}, {"k": "b", "n": 3}])
    runs = finished(slug, 3 if mode == "cancel" else 2)
    outcome = {run.event.data["n"]: run.status for run in runs}
    if mode == "skip":
        assert outcome == {1: "completed", 3: "completed"}
        assert Skip.objects.get(reason="singleton").event.data == {"k": "a", "n": 2}
    else:
        assert outcome == {1: "cancelled", 2: "completed", 3: "completed"}


def test_pause_skips_and_resume_replays(env, world):
    function = env.functions.get(slug=f"{APP}-plain")
    function_pause(function=function, actor=world.owner)
    send(env, "flow/plain", [{"n": 1}, {"n": 2}])
    time.sleep(0.5)
    assert not Run.objects.filter(function=function).exists()
    assert Skip.objects.filter(function=function, reason="paused").count() == 2
    function_resume(function=function, actor=world.owner)
    assert skipped_replay(function=function, actor=world.owner) == 2
    runs = finished("plain", 2)
    assert sorted(run.output for run in runs) == [1, 2]
    assert skipped_replay(function=function, actor=world.owner) == 0


def test_a_key_that_fails_to_evaluate_falls_back_to_the_empty_key(env):
    [event] = send(env, "flow/keyed", [{"no_k": True}])
    run = wait_for_run(lambda: Run.objects.filter(events=event).first())
    scheduled = run.history.get(kind="scheduled")
    assert "failed" in scheduled.data["notes"][0] and "empty key" in scheduled.data["notes"][0]
    assert run.status == RunStatus.FAILED  # the function itself needs k; the engine did not crash


def test_one_environment_flooding_the_queue_does_not_starve_another(
    request, env, world, engine, live_server_url, tmp_path
):
    from django.utils import timezone

    from controlplane.engine.backends import backend
    from controlplane.tenancy.services import environment_set_dev_mode

    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    other = python_app(
        {"INNGEST_DEV": live_server_url, "APP_ID": "py-flow-b", "APP_STATE_DIR": str(tmp_path)},
        script="flow_app.py",
    ).start()
    executors = [backend() if engine == "local" else request.getfixturevalue("celery_worker")]
    try:
        assert (
            app_sync_from_url(environment=world.dev_a, url=other.url, actor=world.owner).status
            == "success"
        )
        for executor in executors:  # the queue fills while nothing runs
            executor.stop()
        for _ in range(4):  # environment A's flood of 2,000 runs, queued first
            send(env, "flow/busy", [{} for _ in range(500)])
        [event] = send(world.dev_a, "flow/plain", [{"n": -1}])  # then one run of environment B
        resumed = timezone.now()
        for executor in executors:
            executor.start()
        run = wait_for_run(lambda: Run.objects.filter(events=event).first(), timeout=60)
    finally:
        other.stop()
    assert run.status == RunStatus.COMPLETED, run.error
    # A generous bound (it includes a Celery worker's start); bench/bench_flow.py measures it.
    waited = (run.started_at - resumed).total_seconds()
    assert waited < 10.0, f"environment B waited {waited:.2f}s behind A's flood"
    # ... and went before most of A's flood, which was queued first.
    later = Run.objects.filter(environment=env).exclude(started_at__lt=run.started_at).count()
    assert later > 1500
