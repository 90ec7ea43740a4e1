"""The event log pages: list (filters, keyset pages), detail, send test event, names."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controlplane.engine.settle import events_accept
from controlplane.events.models import Event
from controlplane.events.services import events_ingest
from controlplane.keys.services import event_key_create
from controlplane.registry.services import app_register
from controlplane.runs.models import Run
from controlplane.tenancy.services import environment_create, environment_set_archived
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db

BASE = "/org-a/production/events/"


def ingest(environment, *names, **kwargs):
    payloads = [{"name": name, "data": {"n": i}} for i, name in enumerate(names)]
    return [
        item.event for item in events_ingest(environment=environment, payloads=payloads, **kwargs)
    ]


def listed_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="event-([0-9A-Z]{26})"', html)


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_everyone_in_the_organization_browses_events_newest_first(client, world, signed_in, role):
    old = ingest(world.prod_a, "app/old", source="api")
    Event.objects.filter(pk=old[0].pk).update(received_at=timezone.now() - timedelta(hours=1))
    new = ingest(world.prod_a, "app/new", source="dashboard")
    ingest(world.dev_a, "app/elsewhere", source="api")
    signed_in(world.user(role))
    html = client.get(BASE).content.decode()
    assert listed_ids(html) == [new[0].public_id, old[0].public_id]
    assert "app/elsewhere" not in html
    assert 'href="/org-a/production/events/"' in html  # the sidebar link


def test_it_pages_by_keyset_without_offset_even_when_times_tie(client, world, signed_in):
    # One call: all 120 share received_at, so only the id tie-break orders them.
    events = ingest(world.prod_a, *[f"app/e{i}" for i in range(120)], source="api")
    signed_in(world.owner)
    seen, url = [], BASE
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            response = client.get(url, HTTP_HX_REQUEST="true")
            html = response.content.decode()
            assert html.lstrip().startswith('<section class="card" id="event-list">')
            seen += listed_ids(html)
            after = re.search(r'after=([0-9A-Z]{26})"', html)
            url = f"{BASE}?after={after.group(1)}" if after else None
    assert url is None and len(seen) == 120
    assert seen == [e.public_id for e in sorted(events, key=lambda e: -e.pk)]
    assert not any("OFFSET" in q["sql"].upper() for q in queries.captured_queries)


def test_it_filters_by_name_and_time_range(client, world, signed_in):
    a, b = ingest(world.prod_a, "app/a", "app/b", source="api")
    Event.objects.filter(pk=a.pk).update(received_at=timezone.now() - timedelta(days=2))
    signed_in(world.member)
    assert listed_ids(client.get(BASE, {"name": "app/a"}).content.decode()) == [a.public_id]
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert listed_ids(client.get(BASE, {"since": since}).content.decode()) == [b.public_id]
    assert listed_ids(client.get(BASE, {"until": since}).content.decode()) == [a.public_id]
    bad = client.get(BASE, {"since": since, "until": since}).content.decode()
    assert "must be before" in bad


def test_the_detail_page_shows_payload_time_key_and_runs(client, world, signed_in):
    key, _secret = event_key_create(environment=world.prod_a, actor=world.owner, name="deploys")
    [event] = events_ingest(
        environment=world.prod_a,
        payloads=[{"name": "app/signup", "data": {"plan": "pro"}, "id": "u-1"}],
        source="api",
        event_key=key,
    )
    signed_in(world.viewer)
    html = client.get(f"{BASE}{event.event.public_id}/").content.decode()
    shown = re.search(r'<pre class="code" id="event-payload">(.*?)</pre>', html, re.S).group(1)
    payload = shown.replace("&quot;", '"')
    assert json.loads(payload) == event.event.as_sdk_payload()
    assert '\n  "name": ' in payload  # pretty-printed
    assert "deploys" in html and key.prefix in html and "u-1" in html
    assert event.event.received_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert "No runs." in html


def test_the_detail_page_links_the_runs_the_event_started(client, world, signed_in):
    app_register(
        environment=world.prod_a,
        payload=python_body(
            "app", [function("app", "welcome", triggers=[{"event": "app/signup"}])]
        ),
        kind="out_of_band",
    )
    [accepted] = events_accept(
        environment=world.prod_a, payloads=[{"name": "app/signup", "data": {}}], source="api"
    )
    run = Run.objects.get(event=accepted.event)
    signed_in(world.viewer)
    html = client.get(f"{BASE}{accepted.event.public_id}/").content.decode()
    assert f'href="/org-a/production/runs/{run.public_id}/"' in html


def test_members_send_test_events_through_the_ingestion_path(client, world, signed_in):
    signed_in(world.member)
    assert "test/hello" in client.get(f"{BASE}send/").content.decode()  # an example to edit
    body = json.dumps([{"name": "app/a", "data": {"x": 1}}, {"name": "app/b"}])
    html = client.post(f"{BASE}send/", {"payload": body}, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section class="card" id="send-form">')
    events = list(Event.objects.order_by("id"))
    assert [(e.name, e.data, e.source, e.event_key) for e in events] == [
        ("app/a", {"x": 1}, "dashboard", None),
        ("app/b", {}, "dashboard", None),
    ]
    assert "Sent 2 events" in html and f"{BASE}{events[0].public_id}/" in html


@pytest.mark.parametrize(
    "payload,error",
    [
        ('{"name": "app/x",}', "not valid JSON"),
        ('{"data": {}}', "`name` is required"),
        ('[{"name": "app/x"}, {"name": "inngest/function.failed"}]', "index 1"),
        ('{"name": "app/x", "ts": "yesterday"}', "`ts` must be an integer"),
    ],
)
def test_it_shows_validation_errors_inline_and_stores_nothing(
    client, world, signed_in, payload, error
):
    signed_in(world.owner)
    html = client.post(f"{BASE}send/", {"payload": payload}).content.decode()
    assert error in html and payload.replace('"', "&quot;") in html  # the text is kept
    assert not Event.objects.exists()


def test_archived_environments_take_no_test_events(client, world, signed_in):
    environment_create(organization=world.org_a, actor=world.owner, name="Old", kind="custom")
    environment_set_archived(
        environment=world.org_a.environments.get(slug="old"), actor=world.owner, archived=True
    )
    signed_in(world.owner)
    html = client.post("/org-a/old/events/send/", {"payload": '{"name": "a/b"}'}).content.decode()
    assert "archived" in html and not Event.objects.exists()


def test_viewers_cannot_send(client, world, signed_in):
    signed_in(world.viewer)
    assert (
        "Viewers can browse events but not send them" in client.get(f"{BASE}send/").content.decode()
    )
    response = client.post(f"{BASE}send/", {"payload": '{"name": "app/x"}'})
    assert response.status_code == 403 and not Event.objects.exists()


def test_the_names_page_counts_the_last_24_hours(client, world, signed_in):
    ingest(world.prod_a, "app/a", "app/b", "app/a", "app/a", source="api")
    [stale] = ingest(world.prod_a, "app/stale", source="api")
    Event.objects.filter(pk=stale.pk).update(received_at=timezone.now() - timedelta(hours=25))
    ingest(world.prod_b, "app/a", source="api")
    signed_in(world.viewer)
    html = client.get(f"{BASE}names/").content.decode()
    rows = re.findall(r"<strong>(.*?)</strong></a></td>\s*<td>(\d+)</td>", html)
    assert rows == [("app/a", "3"), ("app/b", "1")]
    assert "?name=app/a" in html


def test_outsiders_get_404_on_every_event_page(client, world, signed_in):
    [event] = ingest(world.prod_a, "app/x", source="api")
    signed_in(world.outsider)
    for suffix in ("", f"{event.public_id}/", "send/", "names/"):
        assert client.get(BASE + suffix).status_code == 404, suffix
        assert client.post(BASE + suffix, {"payload": '{"name": "a/b"}'}).status_code == 404
    assert Event.objects.count() == 1


def test_another_environments_event_is_404(client, world, signed_in):
    [event] = ingest(world.dev_a, "app/x", source="api")
    signed_in(world.owner)
    assert client.get(f"{BASE}{event.public_id}/").status_code == 404
    assert client.get(f"/org-a/development/events/{event.public_id}/").status_code == 200
