"""Runs in a real browser, executed by a real Python SDK app: the list and a run's timeline
update live over the websocket; cancel and replay are clicked through."""

import re

import pytest
from playwright.sync_api import expect

from controlplane.engine.settle import events_accept
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus
from tests.browser.test_keys import sign_in
from tests.engine.conftest import _fast_engine, app_env, celery_worker, engine  # noqa: F401
from tests.engine.harness import use_event_key, use_signing_key, wait_for_run
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def py_app(app_env):  # noqa: F811
    app = python_app({**app_env, "APP_ID": "py-engine"}, script="engine_app.py").start()
    yield app
    app.stop()


@pytest.fixture
def pushes_reach_the_browser(request, settings):
    """Celery workers are other processes: only the Redis channel layer carries their pushes."""
    if request.node.callspec.params["engine"] == "celery" and not settings.REDIS_URL:
        pytest.skip("live pushes from Celery workers need the Redis channel layer (REDIS_URL)")


@pytest.fixture
def env(world, py_app, pushes_reach_the_browser, engine):  # noqa: F811
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def trigger(environment, name: str, data=None):
    [ingested] = events_accept(
        environment=environment, payloads=[{"name": name, "data": data or {}}], source="api"
    )
    return ingested.event


def test_a_new_run_and_its_steps_appear_live_without_reloading(page, world, env):
    sign_in(page, world.viewer.email)
    page.goto("/org-a/production/runs/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#run-list")).to_contain_text("No runs yet")

    event = trigger(env, "engine/nap", {"seconds": 3})
    row = page.locator("#runs-body tr", has_text="Nap")
    expect(row).to_have_count(1)  # prepended by the socket
    run = Run.objects.get(events=event)
    row.get_by_role("link").click()
    expect(page).to_have_url(re.compile(run.public_id))
    page.evaluate("window.notReloaded = true")

    steps = page.locator("#steps-body tr")
    expect(steps.filter(has_text="nap")).to_contain_text("Sleeping")
    expect(page.locator("#run-status")).to_have_text("Sleeping")
    expect(page.locator("#steps-body tr", has_text="after")).to_contain_text("Completed")
    expect(page.locator("#run-status")).to_have_text("Completed", timeout=20_000)
    expect(steps.filter(has_text="nap")).to_contain_text("Completed")
    assert page.evaluate("window.notReloaded") is True
    shown = [re.sub(r"\s+", " ", t) for t in steps.all_inner_texts()]
    assert len(shown) == 3

    page.reload()  # a reload shows exactly what the socket showed
    assert [re.sub(r"\s+", " ", t) for t in steps.all_inner_texts()] == shown


def test_a_member_cancels_a_sleeping_run_from_the_browser(page, world, env):
    event = trigger(env, "engine/cancellable", {"id": 1})
    run = wait_for_run(lambda: Run.objects.filter(events=event).first(), status=RunStatus.SLEEPING)
    sign_in(page, world.member.email)
    page.goto(f"/org-a/production/runs/{run.public_id}/")
    expect(page.locator("#run-status")).to_have_text("Sleeping")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_have_text("Cancelled")
    expect(page.locator("#run-header")).to_contain_text("by member@a.test")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.cancelled_by == world.member


def test_a_member_replays_a_failed_run_and_follows_the_links(page, world, env):
    event = trigger(env, "engine/doomed")
    run = wait_for_run(
        lambda: Run.objects.filter(events=event, function__slug="py-engine-doomed").first()
    )
    assert run.status == RunStatus.FAILED
    sign_in(page, world.member.email)
    page.goto(f"/org-a/production/runs/{run.public_id}/")
    expect(page.locator("#run-error")).to_contain_text("ZeroDivisionError")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay").click()

    expect(page.locator("#replay-of")).to_have_text(run.public_id)
    replay = Run.objects.get(replay_of=run)
    expect(page).to_have_url(re.compile(replay.public_id))
    expect(page.locator("#run-status")).to_have_text("Failed", timeout=20_000)  # live, again
    page.locator("#replay-of").click()
    expect(page.locator(".replayed-as")).to_have_text(replay.public_id)
