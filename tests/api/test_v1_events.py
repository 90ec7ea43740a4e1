"""GET /v1/events, /v1/events/{id}: filters, cursor pagination, errors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.events.models import Event, EventSource
from controlplane.events.services import events_ingest
from controlplane.ids import new_ulid

pytestmark = pytest.mark.django_db


def bulk_events(
    environment, count: int, *, start, name=lambda i: "bulk/even" if i % 2 else "bulk/odd"
):
    """`count` events, one a second from `start`, stored in one statement."""
    Event.objects.bulk_create(
        Event(
            environment=environment,
            name=name(i),
            data={"i": i},
            ts=int((start + timedelta(seconds=i)).timestamp() * 1000),
            received_at=start + timedelta(seconds=i),
            source=EventSource.API,
        )
        for i in range(count)
    )


def test_it_lists_events_newest_first_in_inngests_shape(api, world, keys):
    events_ingest(
        environment=world.prod_a,
        payloads=[
            {"name": "a/one", "data": {"x": 1}, "id": "sender-id", "meta": {"trace": "t-1"}},
            {"name": "a/two"},
        ],
        source=EventSource.API,
    )
    events_ingest(environment=world.prod_b, payloads=[{"name": "b/secret"}], source="api")
    body = api.get("/v1/events", keys["read"]).json()
    assert [e["name"] for e in body["data"]] == ["a/two", "a/one"]
    one = body["data"][1]
    assert one["id"] == "sender-id" and one["internal_id"] != "sender-id"
    assert one["data"] == {"x": 1} and one["source"] == "api"
    assert one["meta"] == {"trace": "t-1"} and body["data"][0]["meta"] == {}
    assert body["cursor"] is None and body["has_more"] is False
    assert body["metadata"]["fetched_at"]
    assert api.get("/v1/events", keys["signing"]).json()["data"] == body["data"]


def test_it_filters_by_name_and_received_time(api, world, keys):
    start = timezone.now() - timedelta(hours=1)
    bulk_events(world.prod_a, 10, start=start)
    after = (start + timedelta(seconds=4)).isoformat()
    before = (start + timedelta(seconds=8)).isoformat()
    url = f"/v1/events?name=bulk/odd&received_after={after}&received_before={before}"
    data = api.get(url.replace("+00:00", "Z"), keys["read"]).json()["data"]
    assert [e["data"]["i"] for e in data] == [6, 4]


def test_it_pages_through_thousands_of_events_by_cursor(api, world, keys):
    bulk_events(world.prod_a, 3000, start=timezone.now() - timedelta(days=1))
    seen, cursor, pages = [], None, 0
    while True:
        url = "/v1/events?limit=100" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(url, keys["read"]).json()
        seen += [e["data"]["i"] for e in body["data"]]
        pages += 1
        cursor = body["cursor"]
        assert body["has_more"] is (cursor is not None)
        if cursor is None:
            break
    assert pages == 30 and seen == list(range(2999, -1, -1))
    # A filtered walk pages the same way.
    body = api.get("/v1/events?name=bulk/odd&limit=100", keys["read"]).json()
    body = api.get(f"/v1/events?name=bulk/odd&limit=100&cursor={body['cursor']}", keys["read"])
    assert [e["data"]["i"] for e in body.json()["data"]][:2] == [2798, 2796]


def test_it_gets_one_event_of_its_environment_only(api, world, keys):
    [a] = events_ingest(environment=world.prod_a, payloads=[{"name": "a/x"}], source="api")
    url = f"/v1/events/{a.event.public_id}"
    assert api.get(url, keys["read"]).json()["data"]["name"] == "a/x"
    assert api.get(url.lower(), keys["read"]).status_code == 200  # ULIDs are case-insensitive
    for other in ("other_env", "other_org"):
        response = api.get(url, keys[other])
        assert response.status_code == 404 and response.json() == {
            "error": "Event not found.",
            "status": 404,
        }
    assert api.get(f"/v1/events/{new_ulid()}", keys["read"]).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=ten",
        "limit=-1",
        "received_after=yesterday",
        "received_before=2025-13-01T00:00:00Z",
        "received_after=9999-12-31T23:59:59-14:00",
        "cursor=not-a-cursor",
        f"cursor={new_ulid()}",
        "name=" + "x" * 257,
        "name=a%00b",
        "limt=5",
        "name=a&name=b",
    ],
)
def test_it_refuses_bad_parameters_with_400(api, keys, query):
    response = api.get(f"/v1/events?{query}", keys["read"])
    assert response.status_code == 400, response.content
    assert response.json()["status"] == 400 and response.json()["error"]


def test_a_malformed_event_id_is_400(api, keys):
    assert api.get("/v1/events/nope", keys["read"]).status_code == 400
    assert api.get("/v1/events/nope/runs", keys["read"]).status_code == 400


@pytest.mark.parametrize("url", ["/v1/events", f"/v1/events/{new_ulid()}"])
def test_it_answers_401_without_a_valid_key(api, keys, url):
    for bearer in (None, "", "nonsense", "cpk_" + "x" * 43, "signkey-prod-" + "0" * 64):
        response = api.get(url, bearer)
        assert response.status_code == 401 and response.json()["status"] == 401
