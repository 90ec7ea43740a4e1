"""Runs of a real TypeScript SDK app (inngest@4, cloud mode), on both executor backends: the
same protocol features as the Python SDK's tests."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.events.models import Event
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus, Step
from tests.engine.harness import paths_served, use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import run_of, run_of_a_mebibyte_batch, send, sha1
from tests.sdk_apps.processes import run_ts_script, ts_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "ts-engine"
SESSIONS = {"conversation": "c-1", "user": "7"}


@pytest.fixture(scope="module")
def ts(app_env):
    app = ts_app({**app_env, "APP_ID": APP}, script="engine_app.mjs").start()
    yield app
    app.stop()


@pytest.fixture
def env(world, ts, engine):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=ts.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def test_steps_sleep_and_version_negotiation(env):
    run = run_of(send(env, "ts/chain", {"n": 1}))
    assert run.output == {"sum": 6} and run.sdk_version == 2
    napped = run_of(send(env, "ts/nap"))
    assert napped.output == "awake"
    assert Step.objects.get(run=napped, name="nap").kind == "sleep"


def test_wait_for_event_and_invoke(env):
    event = send(env, "ts/approval", {"order": 3})
    waiting = wait_for_run(
        lambda: Run.objects.filter(events=event).first(), status=RunStatus.WAITING
    )
    send(env, "ts/approved", {"order": 3, "by": "grace"})
    assert wait_for_run(waiting).output == {"approvedBy": "grace"}
    assert run_of(send(env, "ts/parent", {"x": 4}), slug=f"{APP}-parent").output == {"child": 8}


@pytest.mark.parametrize("race,output", [(False, [0, 1, 4, 9]), (True, 0)])
def test_parallel_and_race(env, race, output):
    run = run_of(send(env, "ts/fanout", {"race": race}))
    assert run.status == RunStatus.COMPLETED, run.error
    if race:
        assert run.output in (0, 1)
    else:
        assert run.output == output


def test_retries_and_non_retriable_errors(env):
    assert run_of(send(env, "ts/flaky")).output == 2
    hopeless = run_of(send(env, "ts/hopeless"))
    assert hopeless.status == RunStatus.FAILED and "not worth retrying" in hopeless.error["message"]
    assert hopeless.history.filter(kind="retry_scheduled").count() == 0


def test_send_event(env):
    run = run_of(send(env, "ts/sender"), slug=f"{APP}-sender")
    assert run.status == RunStatus.COMPLETED, run.error
    [sent_id] = run.output["ids"]
    assert run_of(env.events.get(public_id=sent_id)).output == {"sum": 11 + 22}


def test_repeated_step_ids_get_the_sdks_indexed_hashes(env):
    run = run_of(send(env, "ts/dupes"))
    assert run.output == [1, 2, 3]
    assert set(Step.objects.filter(run=run).values_list("step_id", flat=True)) == {
        sha1("dup"),
        sha1("dup:1"),
        sha1("dup:2"),
    }


def test_sleep_until_an_absolute_time(env):
    until = datetime.now(UTC) + timedelta(seconds=1)
    run = run_of(send(env, "ts/nap-until", {"until": until.isoformat()}))
    assert run.output == "woke" and run.ended_at >= until


def test_wait_for_event_times_out_with_null(env):
    run = run_of(send(env, "ts/impatient"))
    assert run.output == {"approved": None}


def test_exhausted_retries_fail_the_run_and_run_on_failure(env):
    run = run_of(send(env, "ts/doomed"), slug=f"{APP}-doomed")
    assert run.status == RunStatus.FAILED and "always broken" in run.error["message"]
    assert run.history.filter(kind="step_errored").count() == 1  # retries: 1 -> two attempts
    failed = Event.objects.get(environment=env, name="inngest/function.failed")
    handler = run_of(failed, slug=f"{APP}-doomed-failure")
    assert handler.status == RunStatus.COMPLETED, handler.error
    assert handler.output == "handled: always broken"


def test_retry_after_is_honoured(env):
    run = run_of(send(env, "ts/later"))
    assert run.output == 1
    # RetryAfterError inside step.run: the SDK asked for 2 s in `Retry-After`, so the retry is
    # not due before then, whatever the (test-shortened) backoff table says.
    errored = run.history.get(kind="step_errored")
    due = datetime.fromisoformat(errored.data["retry_at"])
    assert due - errored.created_at >= timedelta(seconds=1.9)
    completed = run.history.get(kind="step_completed")
    assert completed.created_at >= due


def test_cancel_on_a_matching_event(env):
    event = send(env, "ts/cancellable", {"id": "A"})
    sleeping = wait_for_run(
        lambda: Run.objects.filter(events=event).first(), status=RunStatus.SLEEPING
    )
    send(env, "ts/stop", {"id": "B"})
    assert Run.objects.get(pk=sleeping.pk).status == RunStatus.SLEEPING
    send(env, "ts/stop", {"id": "A"})
    run = wait_for_run(sleeping)
    assert run.status == RunStatus.CANCELLED and not run.jobs.exists()


def test_a_finish_timeout_cancels_the_run(env):
    run = run_of(send(env, "ts/deadline"))
    assert run.status == RunStatus.CANCELLED and "timeouts.finish" in run.error["message"]


def test_large_state_goes_through_use_api(env):
    run = run_of(send(env, "ts/big", {"size": 300_000}))
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
        run, sizes = run_of_a_mebibyte_batch(settings, live_server_url, env, "ts/big-batch")
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.output == sizes
    assert f"/v0/runs/{run.public_id}/batch" in paths


def send_with_meta(app_env, name: str, meta: dict) -> Event:
    """An event sent by the SDK's own `inngest.send`, which puts `meta` on the wire."""
    payload = json.dumps({"name": name, "data": {}, "meta": meta})
    sent = json.loads(run_ts_script("send.mjs", app_env, payload))
    assert sent["ok"], sent
    [event_id] = sent["result"]["ids"]
    return Event.objects.get(public_id=event_id)


def test_event_meta_reaches_the_function(env, app_env):
    run = run_of(
        send_with_meta(app_env, "ts/meta-echo", {"sessions": {"conversation": "c-1", "user": 7}})
    )
    assert run.output == {"meta": {"sessions": SESSIONS}, "sessions": SESSIONS}


def test_sessions_propagate_to_sent_events_and_invoked_runs(env, app_env):
    sender = run_of(send_with_meta(app_env, "ts/meta-sender", {"sessions": SESSIONS}))
    assert sender.status == RunStatus.COMPLETED, sender.error
    [sent_id] = sender.output["ids"]
    sent = env.events.get(public_id=sent_id)
    assert sent.meta == {"sessions": SESSIONS}  # the SDK's propagated layer, folded in
    assert run_of(sent).output == {"meta": {"sessions": SESSIONS}, "sessions": SESSIONS}
    parent = run_of(send_with_meta(app_env, "ts/meta-parent", {"sessions": SESSIONS}))
    assert parent.output == {"meta": {"sessions": SESSIONS}, "sessions": SESSIONS}
    invoked = env.events.get(name="inngest/function.invoked")
    assert invoked.meta == {"sessions": SESSIONS}


def test_a_failed_runs_sessions_reach_its_on_failure_handler(env, app_env):
    failed = run_of(send_with_meta(app_env, "ts/meta-doomed", {"sessions": SESSIONS}))
    assert failed.status == RunStatus.FAILED
    event = env.events.get(name="inngest/function.failed")
    assert event.meta == {"sessions": SESSIONS}
    handler = run_of(event, slug=f"{APP}-meta-doomed-failure")
    assert handler.output == {"meta": {"sessions": SESSIONS}}
