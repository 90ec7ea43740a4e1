"""Runs of a real TypeScript SDK app (inngest@4, cloud mode), on both executor backends."""

import pytest

from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus, Step
from tests.engine.harness import use_event_key, use_signing_key, wait_for_run
from tests.engine.test_python_sdk import run_of, send
from tests.sdk_apps.processes import ts_app

pytestmark = pytest.mark.django_db(transaction=True)
APP = "ts-engine"


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
