"""The function page's flow-control panel follows the function's runs over the websocket."""

import pytest
from playwright.sync_api import expect

from controlplane.engine.invoke import function_invoke
from controlplane.registry.services import app_register
from tests.browser.test_keys import sign_in
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_flow_panel_counts_new_waiting_runs_without_reloading(page, world):
    # No executor runs in this test: invoked runs stay queued, waiting for their first call.
    fn = app_register(
        environment=world.prod_a,
        payload=python_body("shop", [function("shop", "bill")]),
        kind="out_of_band",
    ).app.functions.get()
    sign_in(page, world.viewer.email)
    page.goto(f"/org-a/production/functions/{fn.public_id}/")
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#flow-waiting")).to_have_text("0")

    for _ in range(2):
        function_invoke(function=fn, data={})
    # Well before the panel's 30 s poll: the socket's nudge made it re-fetch.
    expect(page.locator("#flow-waiting")).to_have_text("2", timeout=5000)
    assert page.evaluate("window.notReloaded") is True
