import pytest
from playwright.sync_api import expect

from controlplane.registry.services import app_register
from controlplane.tenancy.models import AuditEntry
from controlplane.tenancy.services import environment_set_dev_mode
from tests.browser.test_keys import sign_in
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_syncs_a_running_app_by_its_url_and_shows_its_functions(page, world, apps):
    """Dev mode, Python: the app answers out-of-band, calling this same server back."""
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    app = apps.get("python", "dev")
    sign_in(page, world.member.email)
    page.goto("/org-a/development/")
    expect(page.locator("#env-switcher summary")).to_contain_text("Dev mode")
    page.locator(".sidebar").get_by_role("link", name="Apps").click()

    page.get_by_label("App URL").fill(app.url)
    page.get_by_role("button", name="Sync app").click()
    expect(page.get_by_role("heading", name="py-dev")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Synced py-dev: 4 added")
    functions = page.locator("#app-functions")
    for name in ("Hello", "Nightly report", "Flow", "retired"):
        expect(functions.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(page.locator("#syncs tr.sync-success")).to_have_count(1)
    expect(page.locator("#syncs")).to_contain_text("Out-of-band")

    page.locator(".sidebar").get_by_role("link", name="Functions").click()
    page.get_by_role("link", name="Nightly report").click()
    expect(page.locator("#triggers")).to_contain_text("TZ=Europe/Paris 0 3 * * *")
    expect(page.locator(".next-fires li")).to_have_count(5)


def test_a_failed_sync_says_why_in_the_form(page, world):
    sign_in(page, world.member.email)
    page.goto("/org-a/production/apps/")
    page.get_by_label("App URL").fill("http://no-such-host.invalid/api/inngest")
    page.get_by_role("button", name="Sync app").click()
    expect(page.locator("#sync-error")).to_contain_text("The app is unreachable")
    expect(page.get_by_label("App URL")).to_have_value("http://no-such-host.invalid/api/inngest")


def test_an_admin_archives_an_app_after_confirming(page, world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("py", [function("py", "hello")]),
        kind="out_of_band",
    )
    sign_in(page, world.admin.email)
    page.goto(f"/org-a/production/apps/{sync.app.public_id}/")
    archive = page.get_by_role("button", name="Archive", exact=True)
    page.once("dialog", lambda dialog: dialog.dismiss())
    archive.click()
    page.once("dialog", lambda dialog: dialog.accept())
    archive.click()
    expect(page.locator(".banner.archived")).to_contain_text("start no new runs")
    page.get_by_role("button", name="Unarchive").click()
    expect(archive).to_be_visible()
    actions = AuditEntry.objects.filter(target_type="app").values_list("action", flat=True)
    assert list(actions.order_by("id")) == ["app.synced", "app.archived", "app.unarchived"]
