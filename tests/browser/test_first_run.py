import re

import pytest
from playwright.sync_api import expect

from tests.otp import code_for_secret

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "ada@example.test"
PASSWORD = "a long enough passphrase"


def test_it_walks_a_newcomer_from_setup_to_switching_environments(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup/$"))
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat password").fill(PASSWORD)
    page.get_by_label("Organization name").fill("Acme")
    page.get_by_role("button", name="Create account and organization").click()

    # Enroll an authenticator: the code is computed from the secret shown on the page.
    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code").fill(code_for_secret(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator("#backup-codes li")).to_have_count(10)
    page.get_by_role("link", name="I stored them").click()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/account/login/$"))
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/login/verify/$"))
    # The code just used is spent; the next window's code is within the accepted drift.
    page.get_by_label("Code").fill(code_for_secret(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()

    expect(page).to_have_url(re.compile(r"/acme/production/$"))
    expect(page.locator("h1")).to_contain_text("Production")
    page.locator("#env-switcher summary").click()
    page.locator("#env-switcher").get_by_role("link", name=re.compile("Development")).click()
    expect(page).to_have_url(re.compile(r"/acme/development/$"))
    expect(page.locator("h1")).to_contain_text("Development")
