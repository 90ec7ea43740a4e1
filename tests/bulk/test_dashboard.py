"""Bulk cancel and replay in the dashboard: the form and its live count, progress, stop, list,
roles and isolation."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.bulk.models import BulkAction, BulkStatus
from controlplane.bulk.services import bulk_action_create, bulk_tick
from controlplane.runs.models import Run, RunStatus
from controlplane.tenancy.models import AuditEntry
from tests.bulk.conftest import last_hour, make_runs

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def env_url(world, rest: str) -> str:
    return f"/{world.org_a.slug}/{world.prod_a.slug}/{rest}"


def form(**extra) -> dict:
    now = timezone.now()
    return {
        "started_after": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "started_before": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        **extra,
    }


def test_the_function_page_offers_bulk_actions_to_members_only(client, world, signed_in, fn):
    url = env_url(world, f"functions/{fn.public_id}/")
    signed_in(world.member)
    assert "Cancel runs…" in client.get(url).content.decode()
    signed_in(world.viewer)
    page = client.get(url).content.decode()
    assert "Cancel runs…" not in page and "Bulk action history" in page


def test_it_previews_the_count_then_cancels_and_shows_progress(client, world, signed_in, fn):
    make_runs(fn, 12)
    make_runs(fn, 3, status=RunStatus.COMPLETED)
    signed_in(world.member)
    url = env_url(world, f"functions/{fn.public_id}/bulk/cancel/")
    assert 'id="bulk-form"' in client.get(url).content.decode()
    preview = client.post(url, form(preview="1", expression="event.data.n < 10"), **HTMX)
    assert "<strong>10</strong> runs match" in preview.content.decode()
    assert not BulkAction.objects.exists()  # a preview writes nothing

    response = client.post(url, form(expression="event.data.n < 10"))
    action = BulkAction.objects.get()
    assert response.status_code == 302
    assert response["Location"] == env_url(world, f"bulk/{action.public_id}/")
    assert action.matched == 10 and action.created_by == world.member
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page and ">Stop</button>" in page

    bulk_tick()
    progress = client.get(response["Location"], **HTMX).content.decode()
    assert 'id="bulk-succeeded">10<' in progress and "every 1s" not in progress
    assert fn.runs.filter(status=RunStatus.CANCELLED).count() == 10
    listed = client.get(env_url(world, "bulk/")).content.decode()
    assert action.public_id in listed


def test_the_preview_explains_bad_input_and_posting_it_writes_nothing(client, world, signed_in, fn):
    signed_in(world.member)
    url = env_url(world, f"functions/{fn.public_id}/bulk/cancel/")
    bad = form(expression="event.data.n ==")
    assert "not valid" in client.post(url, {**bad, "preview": "1"}, **HTMX).content.decode()
    assert "not valid" in client.post(url, bad).content.decode()
    backwards = form()
    backwards["started_after"], backwards["started_before"] = (
        backwards["started_before"],
        backwards["started_after"],
    )
    assert "earlier than" in client.post(url, backwards).content.decode()
    assert "Enter a valid date" in client.post(url, form(started_after="soon")).content.decode()
    assert not BulkAction.objects.exists()


def test_a_replay_is_named_paced_and_can_be_stopped(client, world, signed_in, fn):
    make_runs(fn, 6, status=RunStatus.FAILED)
    signed_in(world.admin)
    url = env_url(world, f"functions/{fn.public_id}/bulk/replay/")
    assert "This field is required" in client.post(url, form(statuses=["failed"])).content.decode()
    response = client.post(url, form(name="retry", statuses=["failed"], pace="4"))
    action = BulkAction.objects.get()
    assert (action.kind, action.name, action.pace, action.statuses) == (
        "replay",
        "retry",
        4,
        ["failed"],
    )
    bulk_tick()
    stop = client.post(env_url(world, f"bulk/{action.public_id}/stop/"))
    assert stop["Location"] == response["Location"]
    action.refresh_from_db()
    assert (
        action.status == BulkStatus.STOPPED
        and Run.objects.filter(replay_of__isnull=False).count() == 4
    )
    assert AuditEntry.objects.filter(action="bulk.stopped", actor=world.admin).exists()


def test_viewers_may_watch_but_not_act(client, world, signed_in, fn):
    action = bulk_action(world, fn)
    signed_in(world.viewer)
    assert client.get(env_url(world, f"bulk/{action.public_id}/")).status_code == 200
    assert (
        ">Stop</button>"
        not in client.get(env_url(world, f"bulk/{action.public_id}/")).content.decode()
    )
    for kind in ("cancel", "replay"):
        url = env_url(world, f"functions/{fn.public_id}/bulk/{kind}/")
        assert client.get(url).status_code == 403
        assert client.post(url, form(name="x", statuses=["failed"])).status_code == 403
    assert client.post(env_url(world, f"bulk/{action.public_id}/stop/")).status_code == 403
    assert BulkAction.objects.get().status == BulkStatus.RUNNING


def test_another_tenant_gets_404(client, world, signed_in, fn):
    action = bulk_action(world, fn)
    signed_in(world.outsider)
    for rest in (f"bulk/{action.public_id}/", "bulk/", f"functions/{fn.public_id}/bulk/cancel/"):
        assert client.get(env_url(world, rest)).status_code == 404
    assert client.post(env_url(world, f"bulk/{action.public_id}/stop/")).status_code == 404
    # Org B's own environment does not serve org A's action either.
    signed_in(world.outsider)
    foreign = f"/{world.org_b.slug}/{world.prod_b.slug}/bulk/{action.public_id}/"
    assert client.get(foreign).status_code == 404
    assert BulkAction.objects.get().status == BulkStatus.RUNNING


def bulk_action(world, fn):
    return bulk_action_create(
        run_filter=last_hour(fn), kind="cancel", actor=world.owner, actor_label=world.owner.email
    )
