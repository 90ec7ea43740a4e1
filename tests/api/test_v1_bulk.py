"""/v1/cancellations and /v1/replays: start, list, get and stop bulk actions; refuse bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.bulk.models import BulkAction
from controlplane.bulk.services import bulk_tick
from controlplane.runs.models import Run, RunStatus
from controlplane.tenancy.models import AuditEntry
from tests.bulk.conftest import make_runs

pytestmark = pytest.mark.django_db


def window(**extra) -> dict:
    now = timezone.now()
    return {
        "started_after": (now - timedelta(hours=1)).isoformat(),
        "started_before": (now + timedelta(hours=1)).isoformat(),
        **extra,
    }


def test_it_cancels_in_bulk_and_reports_progress(api, keys, app_a):
    fn = app_a.functions.get(slug="app-f")
    runs = make_runs(fn, 30)
    body = window(app_id="app", function_id="app-f", **{"if": "event.data.n < 20"})
    created = api.post("/v1/cancellations", keys["write"], body=body)
    assert created.status_code == 200, created.json()
    data = created.json()["data"]
    assert (data["status"], data["matched"], data["processed"]) == ("running", 20, 0)
    assert data["if"] == "event.data.n < 20" and data["created_by"].startswith("API key")
    bulk_tick()
    data = api.get(f"/v1/cancellations/{data['id']}", keys["read"]).json()["data"]
    assert (data["status"], data["processed"], data["succeeded"]) == ("completed", 20, 20)
    assert Run.objects.filter(pk__in=[r.pk for r in runs], status=RunStatus.CANCELLED).count() == 20
    assert AuditEntry.objects.filter(action="bulk.created").count() == 1


def test_it_stops_a_replay_and_lists_each_kind_apart(api, keys, app_a):
    fn = app_a.functions.get(slug="app-f")
    make_runs(fn, 5, status=RunStatus.FAILED)
    body = window(function_id="app-f", name="after the outage", statuses=["failed"], pace=2)
    replay = api.post("/v1/replays", keys["signing"], body=body).json()["data"]
    assert (replay["matched"], replay["pace"], replay["statuses"]) == (5, 2, ["failed"])
    bulk_tick()  # two replays, then the pace waits a second
    stopped = api.delete(f"/v1/replays/{replay['id']}", keys["write"]).json()["data"]
    assert stopped["status"] == "stopped" and stopped["processed"] == 2
    assert "signing key" not in stopped["note"] and "API key" in stopped["note"]
    assert Run.objects.filter(replay_of__isnull=False).count() == 2
    assert api.get("/v1/cancellations", keys["read"]).json()["data"] == []
    assert api.get(f"/v1/cancellations/{replay['id']}", keys["read"]).status_code == 404
    listed = api.get("/v1/replays", keys["read"]).json()
    assert [r["id"] for r in listed["data"]] == [replay["id"]] and listed["has_more"] is False


def test_it_pages_through_cancellations(api, keys, app_a):
    for _ in range(5):
        api.post("/v1/cancellations", keys["write"], body=window(function_id="app-f"))
    seen, cursor = [], ""
    while True:
        page = api.get(f"/v1/cancellations?limit=2&cursor={cursor}", keys["read"]).json()
        seen += [c["id"] for c in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["cursor"]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 5


def test_read_only_keys_cannot_start_or_stop(api, keys, app_a):
    refused = api.post("/v1/cancellations", keys["read"], body=window(function_id="app-f"))
    assert refused.status_code == 403
    created = api.post("/v1/cancellations", keys["write"], body=window(function_id="app-f"))
    url = f"/v1/cancellations/{created.json()['data']['id']}"
    assert api.delete(url, keys["read"]).status_code == 403
    assert BulkAction.objects.get().status == "running"


def test_another_environments_ids_are_404(api, keys, app_a):
    created = api.post("/v1/cancellations", keys["write"], body=window(function_id="app-f"))
    url = f"/v1/cancellations/{created.json()['data']['id']}"
    for key in ("other_env", "other_org"):
        assert api.get(url, keys[key]).status_code == 404
        assert api.delete(url, keys[key]).status_code == 404
        assert api.get("/v1/cancellations", keys[key]).json()["data"] == []
    assert BulkAction.objects.get().status == "running"
    # Another environment's function is unknown here.
    body = window(function_id="app-f")
    assert api.post("/v1/cancellations", keys["other_env"], body=body).status_code == 400


@pytest.mark.parametrize(
    "url, body, message",
    [
        ("/v1/cancellations", window(), "Missing field(s): function_id"),
        ("/v1/cancellations", window(function_id="nope"), "No function `nope`"),
        ("/v1/cancellations", window(function_id="app-f", app_id="other"), "not in app"),
        ("/v1/cancellations", window(function_id="app-f", color="red"), "Unknown field(s): color"),
        ("/v1/cancellations", window(function_id="app-f", started_after="x"), "`started_after`"),
        ("/v1/cancellations", window(function_id="app-f", started_after=3), "`started_after`"),
        (
            "/v1/cancellations",
            {"function_id": "app-f", "started_after": "2025-02-01", "started_before": "2025-01-01"},
            "`started_after`",
        ),
        (
            "/v1/cancellations",
            {
                "function_id": "app-f",
                "started_after": "2025-02-01T00:00:00Z",
                "started_before": "2025-01-01T00:00:00Z",
            },
            "earlier than",
        ),
        ("/v1/cancellations", window(function_id="app-f", **{"if": "event.=="}), "not valid"),
        ("/v1/cancellations", window(function_id="app-f", name="a\x00b"), "NUL"),
        ("/v1/cancellations", window(function_id="app-f", statuses=["failed"]), "Unknown field"),
        ("/v1/replays", window(function_id="app-f", statuses=["failed"]), "Missing field(s): name"),
        (
            "/v1/replays",
            window(function_id="app-f", name="n", statuses=["completed"]),
            "Choose which runs",
        ),
        ("/v1/replays", window(function_id="app-f", name="n", statuses="failed"), "`statuses`"),
        (
            "/v1/replays",
            window(function_id="app-f", name="n", statuses=["failed"], pace=0),
            "`pace`",
        ),
        (
            "/v1/replays",
            window(function_id="app-f", name="n", statuses=["failed"], pace=True),
            "`pace`",
        ),
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(api, keys, app_a, url, body, message):
    response = api.post(url, keys["write"], body=body)
    assert response.status_code == 400 and message in response.json()["error"]
    assert (
        not BulkAction.objects.exists()
        and not AuditEntry.objects.filter(action="bulk.created").exists()
    )


def test_bad_ids_and_methods(api, keys, app_a):
    assert api.get("/v1/replays/not-a-ulid", keys["read"]).status_code == 400
    missing = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert api.get(f"/v1/replays/{missing}", keys["read"]).status_code == 404
    assert api.get("/v1/replays", None).status_code == 401
