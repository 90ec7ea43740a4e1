"""Pausing and resuming functions, and replaying what was skipped, from the dashboard and the
REST API (issue 8); the live flow-control panel."""

import pytest

from controlplane.engine.cron import fire_cron
from controlplane.engine.settle import events_accept
from controlplane.flow.models import Skip
from controlplane.flow.services import function_pause, function_resume, skipped_replay
from controlplane.keys.selectors import active_signing_key
from controlplane.registry.services import app_register
from controlplane.runs.models import Run
from controlplane.tenancy.models import AuditEntry
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def fn(world):
    app_register(
        environment=world.prod_a,
        payload=python_body(
            "app", [function("app", "f", concurrency=[{"limit": 2, "key": "event.data.k"}])]
        ),
        kind="out_of_band",
    )
    return world.prod_a.functions.get()


def api(client, world, method: str, path: str, body=None, environment=None):
    key = active_signing_key(environment or world.prod_a)
    return getattr(client, method)(
        path, data=body or {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def send(world, n: int = 1):
    events_accept(
        environment=world.prod_a,
        payloads=[{"name": "test/f", "data": {"k": "a"}}] * n,
        source="api",
    )


def test_the_api_pauses_skips_resumes_and_replays(client, world, fn):
    base = f"/v1/functions/{fn.slug}"
    paused = api(client, world, "post", f"{base}/pause").json()["data"]
    assert paused["function"]["paused"] is True and paused["cancelled_runs"] == 0
    send(world, 3)
    assert not Run.objects.exists()
    assert Skip.objects.filter(function=fn, reason="paused").count() == 3
    replay = api(client, world, "post", f"{base}/skipped/replay")
    assert replay.status_code == 409 and "Resume" in replay.json()["error"]
    assert api(client, world, "post", f"{base}/resume").json()["data"]["paused"] is False
    assert api(client, world, "post", f"{base}/skipped/replay").json()["data"] == {
        "runs_started": 3
    }
    assert Run.objects.filter(function=fn).count() == 3
    assert api(client, world, "post", f"{base}/skipped/replay").json()["data"] == {
        "runs_started": 0
    }
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"function.paused", "function.resumed", "function.skipped_replayed"} <= actions


def test_a_paused_functions_cron_fire_is_skipped_and_replayable(world):
    app_register(
        environment=world.prod_a,
        payload=python_body("crons", [function("crons", "tick", triggers=[{"cron": "* * * * *"}])]),
        kind="out_of_band",
    )
    tick = world.prod_a.functions.get(slug="crons-tick")
    function_pause(function=tick, actor=None)
    due = tick.triggers.get().cron_next_at
    assert fire_cron(function=tick.public_id, cron="* * * * *", now=due) == 1
    [skip] = Skip.objects.filter(function=tick)
    assert skip.reason == "paused" and skip.event.name == "inngest/scheduled.timer"
    assert not Run.objects.exists()
    function_resume(function=tick, actor=None)
    assert skipped_replay(function=tick, actor=None) == 1
    assert Run.objects.get(function=tick).event == skip.event


def test_the_event_page_says_which_functions_skipped_it_and_why(client, world, signed_in, fn):
    function_pause(function=fn, actor=None)
    [ingested] = events_accept(
        environment=world.prod_a, payloads=[{"name": "test/f", "data": {}}], source="api"
    )
    signed_in(world.user("viewer"))
    page = client.get(f"/org-a/production/events/{ingested.event.public_id}/").content.decode()
    assert 'id="event-skips"' in page and "Function paused" in page and fn.name in page
    function_resume(function=fn, actor=None)
    skipped_replay(function=fn, actor=None)
    page = client.get(f"/org-a/production/events/{ingested.event.public_id}/").content.decode()
    assert "(replayed)" in page


def test_pausing_can_cancel_the_runs_in_flight(client, world, fn):
    send(world, 2)
    answer = api(client, world, "post", f"/v1/functions/{fn.slug}/pause", {"cancel_running": True})
    assert answer.json()["data"]["cancelled_runs"] == 2
    assert set(Run.objects.values_list("status", flat=True)) == {"cancelled"}


@pytest.mark.parametrize(
    "body,error",
    [({"cancel_running": "yes"}, "true or false"), ({"bogus": 1}, "Unknown field")],
)
def test_the_api_refuses_bad_pause_bodies(client, world, fn, body, error):
    answer = api(client, world, "post", f"/v1/functions/{fn.slug}/pause", body)
    assert answer.status_code == 400 and error in answer.json()["error"]
    fn.refresh_from_db()
    assert fn.paused_at is None


def test_the_api_hides_other_environments_functions_and_refuses_read_only_keys(client, world, fn):
    from controlplane.keys.services import api_key_create

    assert (
        api(
            client, world, "post", f"/v1/functions/{fn.slug}/pause", environment=world.prod_b
        ).status_code
        == 404
    )
    _key, secret = api_key_create(
        environment=world.prod_a, actor=world.owner, name="ro", access="read"
    )
    answer = client.post(
        f"/v1/functions/{fn.slug}/pause",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert answer.status_code == 403
    fn.refresh_from_db()
    assert fn.paused_at is None


@pytest.mark.parametrize("role,can_act", [("owner", True), ("member", True), ("viewer", False)])
def test_the_flow_panel_and_its_buttons(client, world, signed_in, fn, role, can_act):
    send(world, 3)
    signed_in(world.user(role))
    base = f"/org-a/production/functions/{fn.public_id}"
    panel = client.get(f"{base}/flow/").content.decode()
    assert 'id="flow-waiting">3<' in panel
    assert ("Pause" in panel) == can_act
    answer = client.post(f"{base}/pause/")
    fn.refresh_from_db()
    assert (answer.status_code, fn.paused_at is not None) == (
        (302, True) if can_act else (403, False)
    )


def test_outsiders_get_404_on_the_flow_panel_and_actions(client, world, signed_in, fn):
    signed_in(world.outsider)
    base = f"/org-a/production/functions/{fn.public_id}"
    assert client.get(f"{base}/flow/").status_code == 404
    for action in ("pause", "resume", "replay-skipped"):
        assert client.post(f"{base}/{action}/").status_code == 404
