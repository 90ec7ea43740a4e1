"""The runs list, a run's page, and cancelling or replaying it from the dashboard."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controlplane.engine.invoke import function_invoke
from controlplane.registry.services import app_register
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, Run, RunStatus, Step, StepStatus
from controlplane.tenancy.models import AuditEntry
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db
RUNS = "/org-a/production/runs/"


@pytest.fixture
def fns(world):
    first = app_register(
        environment=world.prod_a,
        payload=python_body("shop", [function("shop", "bill"), function("shop", "ship")]),
        kind="out_of_band",
    ).app
    second = app_register(
        environment=world.prod_a,
        payload=python_body("mail", [function("mail", "send")]),
        kind="out_of_band",
    ).app
    return {f.slug: f for app in (first, second) for f in app.functions.all()}


def make_run(fn, status=RunStatus.QUEUED, *, minutes_ago: float = 0, output=None) -> Run:
    run = function_invoke(function=fn, data={})
    queued = timezone.now() - timedelta(minutes=minutes_ago)
    ended = queued + timedelta(seconds=2) if status in ("completed", "failed") else None
    Run.objects.filter(pk=run.pk).update(
        status=status, queued_at=queued, started_at=queued, ended_at=ended, output=output
    )
    return Run.objects.get(pk=run.pk)


def listed(response) -> list[str]:
    return [r.public_id for r in response.context["page"].runs]


def test_it_lists_runs_newest_first_and_filters_them(client, world, signed_in, fns):
    bill, ship, send = fns["shop-bill"], fns["shop-ship"], fns["mail-send"]
    old = make_run(bill, RunStatus.COMPLETED, minutes_ago=90, output={"invoice": "INV-42"})
    failed = make_run(ship, RunStatus.FAILED, minutes_ago=30)
    queued = make_run(send, minutes_ago=1)
    signed_in(world.viewer)

    response = client.get(RUNS)
    assert response.status_code == 200
    assert listed(response) == [queued.public_id, failed.public_id, old.public_id]
    assert b"Completed" in response.content and b"2.0 s" in response.content

    assert listed(client.get(RUNS, {"status": ["failed", "completed"]})) == [
        failed.public_id,
        old.public_id,
    ]
    assert listed(client.get(RUNS, {"function": ship.public_id})) == [failed.public_id]
    assert listed(client.get(RUNS, {"app": send.app.public_id})) == [queued.public_id]
    since = (timezone.now() - timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M")
    assert listed(client.get(RUNS, {"since": since})) == [queued.public_id, failed.public_id]
    assert listed(client.get(RUNS, {"q": "inv-42"})) == [old.public_id]  # in the output
    assert listed(client.get(RUNS, {"q": "function.invoked"})) == listed(client.get(RUNS))


def test_it_rejects_bad_filters_with_a_form_error_and_no_filtering(client, world, signed_in, fns):
    run = make_run(fns["shop-bill"])
    signed_in(world.viewer)
    response = client.get(RUNS, {"status": "exploded", "function": "01NOTAFUNCTION"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"status", "function"}
    assert listed(response) == [run.public_id]
    response = client.get(RUNS, {"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"})
    assert "“From” must be before “Until”." in response.content.decode()


def test_it_offers_only_this_environments_functions_as_filters(client, world, signed_in):
    other = app_register(
        environment=world.prod_b,
        payload=python_body("b", [function("b", "x")]),
        kind="out_of_band",
    ).app.functions.get()
    signed_in(world.owner)
    response = client.get(RUNS, {"function": other.public_id})
    assert "function" in response.context["form"].errors


def test_it_pages_with_a_keyset_without_gaps_or_repeats(client, world, signed_in, fns):
    runs = [make_run(fns["shop-bill"], minutes_ago=i) for i in range(120)]
    signed_in(world.viewer)
    seen, params = [], {"function": fns["shop-bill"].public_id}
    while True:
        response = client.get(RUNS, params)
        seen += listed(response)
        after = response.context["page"].next_after
        if not after:
            break
        params = {**params, "after": after}
    assert seen == [r.public_id for r in runs]
    assert b"Newest" in response.content


def test_it_lists_runs_in_a_constant_number_of_queries(client, world, signed_in, fns):
    signed_in(world.viewer)
    make_run(fns["shop-bill"])
    client.get(RUNS)  # warm up the session and caches
    with CaptureQueriesContext(connection) as one:
        client.get(RUNS)
    for fn in fns.values():
        for _ in range(10):
            make_run(fn, RunStatus.COMPLETED)
    with CaptureQueriesContext(connection) as many:
        response = client.get(RUNS)
    assert len(listed(response)) == 31
    assert len(many) == len(one)


def test_the_function_page_links_to_its_runs(client, world, signed_in, fns):
    signed_in(world.viewer)
    fn = fns["shop-bill"]
    response = client.get(f"/org-a/production/functions/{fn.public_id}/")
    assert f'{RUNS}?function={fn.public_id}"'.encode() in response.content


def test_a_run_page_shows_events_steps_attempts_and_links(client, world, signed_in, fns):
    parent = make_run(fns["shop-bill"], RunStatus.RUNNING)
    child = make_run(fns["shop-ship"], RunStatus.RUNNING)
    Run.objects.filter(pk=child.pk).update(parent=parent)
    Step.objects.create(
        run=parent,
        step_id="s1",
        name="charge",
        status=StepStatus.COMPLETED,
        memo={"data": {"blob": "x" * 2000}},
        has_memo=True,
        attempts=1,
    )
    history_append(
        parent,
        HistoryKind.STEP_ERRORED,
        step_id="s1",
        attempt=0,
        error={"name": "ValueError", "message": "card declined"},
    )
    history_append(parent, HistoryKind.STEP_COMPLETED, step_id="s1", attempt=1)
    Step.objects.create(
        run=parent,
        step_id="s2",
        name="nap",
        kind="sleep",
        status=StepStatus.SLEEPING,
        details={"until": "2030-01-01T00:00:00+00:00"},
    )
    history_append(parent, HistoryKind.SLEEPING, step_id="s2")
    Step.objects.create(
        run=parent,
        step_id="s3",
        name="call",
        kind="invoke",
        status=StepStatus.INVOKING,
        details={"function": "shop-ship", "child_run": child.public_id},
    )
    history_append(parent, HistoryKind.INVOKED, step_id="s3")
    Step.objects.create(
        run=parent,
        step_id="s4",
        name="approve",
        kind="waitForEvent",
        status=StepStatus.WAITING,
        details={"event": "shop/ok", "expression": "a == b"},
    )
    history_append(parent, HistoryKind.WAITING, step_id="s4")
    signed_in(world.viewer)

    page = client.get(f"{RUNS}{parent.public_id}/").content.decode()
    assert "card declined" in page and "Attempt 1" in page
    assert '<details class="json"><summary>Output (' in page  # the big output is collapsed
    assert "Wakes at <code>2030-01-01T00:00:00+00:00</code>" in page
    assert "Waits for <code>shop/ok</code> if <code>a == b</code>" in page
    assert f'href="{RUNS}{child.public_id}/"' in page
    assert "inngest/function.invoked" in page  # the trigger event
    assert "Cancel run" not in page  # a viewer has no buttons

    child_page = client.get(f"{RUNS}{child.public_id}/").content.decode()
    assert "Invoked by" in child_page and f'href="{RUNS}{parent.public_id}/"' in child_page


def test_a_run_page_answers_404_for_other_tenants_and_non_ulids(client, world, signed_in, fns):
    run = make_run(fns["shop-bill"])
    signed_in(world.outsider)
    assert client.get(f"{RUNS}{run.public_id}/").status_code == 404
    signed_in(world.owner)
    assert client.get(f"/org-a/development/runs/{run.public_id}/").status_code == 404
    assert client.get(f"{RUNS}not-a-ulid/").status_code == 404
    assert client.get(f"{RUNS}{'Z' * 26}/").status_code == 404


def test_a_member_cancels_a_run_and_it_is_audited(client, world, signed_in, fns):
    run = make_run(fns["shop-bill"], RunStatus.SLEEPING)
    signed_in(world.member)
    assert "Cancel run" in client.get(f"{RUNS}{run.public_id}/").content.decode()
    response = client.post(f"{RUNS}{run.public_id}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == f"{RUNS}{run.public_id}/"
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED and run.cancelled_by == world.member
    page = client.get(f"{RUNS}{run.public_id}/").content.decode()
    assert "by member@a.test" in page and "Replay" in page and "Cancel run" not in page
    entry = AuditEntry.objects.get(action="run.cancelled")
    assert entry.actor == world.member and entry.organization == world.org_a


def test_a_member_replays_a_finished_run_and_both_link_to_each_other(client, world, signed_in, fns):
    run = make_run(fns["shop-bill"], RunStatus.FAILED)
    signed_in(world.member)
    response = client.post(f"{RUNS}{run.public_id}/replay/")
    replay = Run.objects.get(replay_of=run)
    assert response.status_code == 302 and response["Location"] == f"{RUNS}{replay.public_id}/"
    assert AuditEntry.objects.get(action="run.replayed").data == {"replay": replay.public_id}
    replay_page = client.get(f"{RUNS}{replay.public_id}/").content.decode()
    assert f'id="replay-of" href="{RUNS}{run.public_id}/"' in replay_page
    original = client.get(f"{RUNS}{run.public_id}/").content.decode()
    assert f'class="replayed-as" href="{RUNS}{replay.public_id}/"' in original


def test_a_refused_replay_says_why(client, world, signed_in, fns):
    run = make_run(fns["shop-bill"], RunStatus.RUNNING)
    signed_in(world.member)
    response = client.post(f"{RUNS}{run.public_id}/replay/", HTTP_HX_REQUEST="true")
    assert "Only a finished run can be replayed" in response.content.decode()
    assert not Run.objects.filter(replay_of=run).exists()


@pytest.mark.parametrize("action", ["cancel", "replay"])
def test_viewers_may_not_act_and_outsiders_get_404(client, world, signed_in, fns, action):
    run = make_run(fns["shop-bill"], RunStatus.FAILED if action == "replay" else "sleeping")
    signed_in(world.viewer)
    assert client.post(f"{RUNS}{run.public_id}/{action}/").status_code == 403
    signed_in(world.outsider)
    assert client.post(f"{RUNS}{run.public_id}/{action}/").status_code == 404
    signed_in(world.member)
    assert client.get(f"{RUNS}{run.public_id}/{action}/").status_code == 405
    run.refresh_from_db()
    assert (
        run.status in ("failed", "sleeping")
        and not AuditEntry.objects.filter(action__startswith="run.").exists()
    )
