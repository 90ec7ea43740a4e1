"""The broker refuses while events come in: the Event API still answers 200 with the ids of the
events it committed, stores each once, and once a worker reaches a broker the sweeper sends the
jobs and every run completes."""

import httpx
import pytest

from controlplane.events.models import Event
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus
from tests.conftest import use_broker
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import (
    EVENT_KEY,
    CeleryWorker,
    celery_broker_url,
    use_event_key,
    use_signing_key,
    wait_for_run,
)
from tests.sdk_apps.processes import python_app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.chaos]


@pytest.fixture(scope="module")
def py_app(app_env):
    app = python_app({**app_env, "APP_ID": "py-refused"}, script="engine_app.py").start()
    yield app
    app.stop()


def test_events_committed_while_the_broker_refuses_are_answered_and_run_later(
    world, py_app, refusing_broker, live_server_url, settings
):
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("needs Redis (set REDIS_URL)")
    settings.CELERY_TASK_DEFAULT_QUEUE = ENGINE_ENV["CELERY_QUEUE"]
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error

    # No idempotency seed: a client retrying a 5xx here would store its events twice.
    events = [{"name": "engine/chain", "data": {"n": n}} for n in range(5)]
    answer = httpx.post(f"{live_server_url}/e/{EVENT_KEY}", json=events, timeout=30)
    assert answer.status_code == 200, answer.text
    ids = answer.json()["ids"]
    assert len(ids) == 5
    assert sorted(Event.objects.values_list("public_id", flat=True)) == sorted(ids)
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 5

    use_broker(broker)  # the broker is back, for this process (the server) too
    worker = CeleryWorker(broker, {**ENGINE_ENV, "JOB_REPUBLISH_SECONDS": "1"})
    try:
        worker.start()
        runs = [wait_for_run(run) for run in Run.objects.filter(events__public_id__in=ids)]
    finally:
        worker.stop()
    assert [run.status for run in runs] == [RunStatus.COMPLETED] * 5
    assert sorted(run.output["sum"] for run in runs) == [3 * (n + 1) for n in range(5)]
    assert Event.objects.filter(name="engine/chain").count() == 5  # none stored twice
