import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from controlplane.events.models import Event
from tests.browser.test_keys import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_sends_a_test_event_and_finds_it_in_the_log(page, world):
    sign_in(page, world.member.email)
    page.goto("/org-a/production/events/")
    page.get_by_role("link", name="Send test event").click()

    editor = page.get_by_label("Event JSON")
    editor.fill('{"name": "app/signup", "data": {"plan": ')
    expect(page.locator(".json-status")).to_contain_text("Not valid JSON")
    page.get_by_role("button", name="Send event").click()
    expect(page.locator("#send-form .error")).to_contain_text("not valid JSON")
    assert not Event.objects.exists()

    editor.fill('{"name": "inngest/function.finished"}')
    page.get_by_role("button", name="Send event").click()
    expect(page.locator("#send-form .error")).to_contain_text("reserved for internal events")

    editor.fill('{"name": "app/signup", "data": {"plan": "pro"}}')
    page.get_by_role("button", name="Format JSON").click()
    expect(editor).to_have_value(re.compile(r'^\{\n  "name": "app/signup"'))
    expect(page.locator(".json-status")).to_have_text("Valid JSON")
    page.get_by_role("button", name="Send event").click()
    expect(page.locator("#send-form [role=status]")).to_contain_text("Sent 1 event")

    page.locator("#send-form [role=status]").get_by_role("link", name="app/signup").click()
    expect(page.get_by_role("heading", name="app/signup")).to_be_visible()
    payload = json.loads(page.locator("#event-payload").text_content())
    assert payload["data"] == {"plan": "pro"}
    expect(page.locator("#event-runs")).to_contain_text("No runs.")

    page.get_by_role("link", name="← Events").click()
    expect(page.locator("#events tbody tr", has_text="app/signup")).to_have_count(1)
    assert Event.objects.get().source == "dashboard"


def test_an_event_key_made_in_the_browser_sends_events_that_show_up(page, world, live_server_url):
    sign_in(page, world.owner.email)
    page.goto("/org-a/production/keys/")
    page.locator("#event-key-create").get_by_label("Name").fill("checkout")
    page.get_by_role("button", name="Create event key").click()
    secret = page.locator("#new-event-key").input_value()

    response = httpx.post(
        f"{live_server_url}/e/{secret}",
        json=[{"name": "shop/order.paid", "data": {"order": 7}}],
    )
    assert response.status_code == 200 and response.json()["status"] == 200
    [event_id] = response.json()["ids"]

    page.get_by_role("link", name="Events", exact=True).click()
    page.get_by_label("Event name").fill("shop/order.paid")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"\?name=shop%2Forder.paid"))  # htmx swapped the list
    row = page.locator("#events tbody tr", has_text="shop/order.paid")
    expect(row).to_contain_text("checkout")
    row.get_by_role("link").click()
    expect(page.locator("#event-facts")).to_contain_text(event_id)
    expect(page.locator("#event-facts")).to_contain_text("checkout")

    page.get_by_role("link", name="Event names").click()
    expect(page.locator("#event-names tbody tr", has_text="shop/order.paid")).to_contain_text("1")
