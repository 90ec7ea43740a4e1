import re

import pytest
from playwright.sync_api import expect

from controlplane.keys.selectors import active_signing_key, event_key_for_secret
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page, email):
    page.goto("/account/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_it_creates_copies_and_uses_an_event_key_then_rotates_the_signing_key(page, world):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, world.owner.email)
    page.goto("/org-a/production/keys/")

    page.locator("#event-key-create").get_by_label("Name").fill("deploys")
    page.get_by_role("button", name="Create event key").click()
    expect(page.locator("#new-event-key")).to_be_visible()
    page.locator("#event-key-create").get_by_role("button", name="Copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert re.fullmatch(r"[0-9a-f]{64}", copied)
    # The new row joined the list without a reload.
    expect(page.locator("#event-keys tbody tr", has_text="deploys")).to_have_count(1)
    assert event_key_for_secret(copied).environment == world.prod_a

    old = active_signing_key(world.prod_a)
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Create next key").click()
    shown = page.locator("#shown-signing-key")
    expect(shown).to_have_value(re.compile(r"^signkey-prod-[0-9a-f]{64}$"))
    new = shown.input_value()
    page.get_by_role("button", name="Promote next key").click()
    expect(page.locator("#signing-keys .state-fallback")).to_have_count(1)
    assert active_signing_key(world.prod_a) == new != old

    page.reload()
    expect(page.locator("#event-keys tbody tr", has_text="deploys")).to_have_count(1)
    expect(page.locator("#signing-keys .state-active")).to_have_count(1)
    assert copied not in page.content()
