"""The dashboard's apps, syncs and functions pages: who may see and do what."""

import re

import pytest
from django_celery_beat.models import PeriodicTask

from controlplane.registry.models import App, AppSync, Function
from controlplane.tenancy.models import AuditEntry
from tests.live import free_port
from tests.registrations import function, python_body
from tests.sync_fixtures import KEY, install_signing_key
from tests.test_register import bearer, post

pytestmark = pytest.mark.django_db
ENV = "/org-a/production/"


def register(client, world, functions, app_id="py"):
    response = post(client, python_body(app_id, functions), bearer(world.prod_a))
    assert response.status_code == 200, response.content
    return App.objects.get(environment=world.prod_a, app_id=app_id)


@pytest.fixture
def registered(client, world):
    """App "py" synced twice: flow's concurrency changed from 5 to 2, "old" removed."""
    flow = function("py", "flow", concurrency=[{"limit": 5, "key": "event.data.user"}])
    nightly = function("py", "nightly", triggers=[{"cron": "TZ=Europe/Paris 0 3 * * 1-5"}])
    register(client, world, [flow, nightly, function("py", "old")])
    flow = {**flow, "concurrency": [{"limit": 2, "key": "event.data.user"}]}
    flow["rateLimit"] = {"limit": 10, "period": "1m"}
    return register(client, world, [flow, nightly])


def test_everyone_sees_apps_functions_and_the_sync_history_with_its_diff(
    client, world, signed_in, registered
):
    signed_in(world.viewer)
    apps_page = client.get(ENV + "apps/").content.decode()
    assert "py" in apps_page and "Python v0.5.19" in apps_page
    assert "Sync new app" not in apps_page  # viewers cannot sync
    page = client.get(ENV + f"apps/{registered.public_id}/").content.decode()
    assert page.count('class="sync-success"') == 2
    assert "py-old" in page and "removed" in page
    diff = re.search(r"~ py-flow.*?</table>", page, re.S).group(0)
    assert (
        "concurrency" in diff and "&quot;limit&quot;: 5" in diff and "&quot;limit&quot;: 2" in diff
    )
    assert "rateLimit" in diff and "not set" in diff
    assert "Resync" not in page and "Archive" not in page
    functions_page = client.get(ENV + "functions/").content.decode()
    assert "py-flow" in functions_page and "py-old" not in functions_page
    assert "cron TZ=Europe/Paris 0 3 * * 1-5" in functions_page
    sync = registered.syncs.order_by("-started_at").first()
    detail = client.get(ENV + f"syncs/{sync.public_id}/").content.decode()
    assert "Out-of-band" in detail and "py-flow" in detail


def test_the_function_page_shows_triggers_retries_flow_control_and_next_cron_times(
    client, world, signed_in, registered
):
    signed_in(world.viewer)
    nightly = Function.objects.get(slug="py-nightly")
    page = client.get(ENV + f"functions/{nightly.public_id}/").content.decode()
    assert "TZ=Europe/Paris 0 3 * * 1-5" in page
    fires = re.findall(r'<time datetime="([^"]+)">', page.split('id="triggers"')[1])
    assert len(fires) == 5
    assert all(re.search(r"T03:00:00\+0[12]:00$", fire) for fire in fires)  # Paris, 3 am
    assert '4 <span class="muted">(default)</span>' in page
    assert f'runs/?function={nightly.public_id}"' in page
    flow = Function.objects.get(slug="py-flow")
    page = client.get(ENV + f"functions/{flow.public_id}/").content.decode()
    assert "&quot;period&quot;: &quot;1m&quot;" in page  # rate limit as declared
    assert "<code>test/flow</code>" in page
    removed = Function.objects.get(slug="py-old")
    assert (
        "Removed from its app"
        in client.get(ENV + f"functions/{removed.public_id}/").content.decode()
    )


def test_a_member_syncs_a_real_app_by_url_and_lands_on_its_page(apps, client, world, signed_in):
    install_signing_key(world.prod_a, KEY)
    sdk_app = apps.get("python", "cloud")
    signed_in(world.member)
    response = client.post(ENV + "apps/sync/", {"url": sdk_app.url}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204, response.content.decode()
    app = App.objects.get(app_id="py-cloud")
    assert response.headers["HX-Redirect"] == ENV + f"apps/{app.public_id}/"
    page = client.get(response.headers["HX-Redirect"]).content.decode()
    assert "Synced py-cloud: 4 added, 0 removed, 0 changed." in page
    assert "py-cloud-nightly" in page and "In-band" in page
    assert AuditEntry.objects.get(action="app.synced").actor == world.member
    # A plain form post (no htmx) redirects too; resync keeps the function set.
    response = client.post(ENV + f"apps/{app.public_id}/resync/")
    assert response.status_code == 302
    assert (
        "Synced py-cloud: 0 added, 0 removed, 0 changed."
        in client.get(response.url).content.decode()
    )


def test_a_failed_sync_shows_why_in_the_form(client, world, signed_in):
    signed_in(world.member)
    url = f"http://127.0.0.1:{free_port()}/api/inngest"
    response = client.post(ENV + "apps/sync/", {"url": url}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and 'id="sync-form"' in html
    assert "The sync failed." in html and "refused the connection" in html
    sync = AppSync.objects.get()
    assert sync.status == "failed" and sync.app is None
    listed = client.get(ENV + "apps/").content.decode()
    assert "Failed syncs of unknown apps" in listed and url in listed


def test_a_failed_resync_is_reported_and_kept_in_the_history(client, world, signed_in):
    app = register(client, world, [function("py", "hello")])
    signed_in(world.member)
    response = client.post(ENV + f"apps/{app.public_id}/resync/", follow=True)
    page = response.content.decode()
    assert "The sync failed: The app refused the connection" in page
    assert 'class="sync-failed"' in page and Function.objects.get().removed_at is None


def test_it_refuses_a_malformed_url_without_syncing(client, world, signed_in):
    signed_in(world.member)
    for url in ("", "not a url", "ftp://example.com/api/inngest"):
        response = client.post(ENV + "apps/sync/", {"url": url}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert not AppSync.objects.exists()


def test_admins_archive_and_unarchive_an_app(client, world, signed_in, registered):
    signed_in(world.admin)
    url = ENV + f"apps/{registered.public_id}/archive/"
    page = client.post(url, {"archived": "true"}, follow=True).content.decode()
    registered.refresh_from_db()
    assert registered.is_archived and "start no new runs" in page
    assert not PeriodicTask.objects.get().enabled
    assert "App archived" in client.get(ENV + "functions/").content.decode()
    client.post(url, {"archived": "false"})
    registered.refresh_from_db()
    assert not registered.is_archived and PeriodicTask.objects.get().enabled
    actions = list(AuditEntry.objects.filter(actor=world.admin).values_list("action", flat=True))
    assert actions == ["app.archived", "app.unarchived"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_roles_below_admin_cannot_archive_and_viewers_cannot_sync(
    client, world, signed_in, registered, role
):
    signed_in(world.user(role))
    archive = client.post(ENV + f"apps/{registered.public_id}/archive/", {"archived": "true"})
    assert archive.status_code == 403
    if role == "viewer":
        assert client.post(ENV + "apps/sync/", {"url": "http://x.test/"}).status_code == 403
        assert client.post(ENV + f"apps/{registered.public_id}/resync/").status_code == 403
    registered.refresh_from_db()
    assert not registered.is_archived and AppSync.objects.count() == 2


def test_outsiders_get_404_on_every_app_sync_and_function_page(
    client, world, signed_in, registered
):
    sync = registered.syncs.first()
    fn = Function.objects.get(slug="py-flow")
    signed_in(world.outsider)
    for path in (
        "apps/",
        "functions/",
        f"apps/{registered.public_id}/",
        f"syncs/{sync.public_id}/",
        f"functions/{fn.public_id}/",
    ):
        assert client.get(ENV + path).status_code == 404, path
    for path in (
        "apps/sync/",
        f"apps/{registered.public_id}/resync/",
        f"apps/{registered.public_id}/archive/",
    ):
        assert (
            client.post(ENV + path, {"url": "http://x.test/", "archived": "true"}).status_code
            == 404
        )
    registered.refresh_from_db()
    assert not registered.is_archived and AppSync.objects.count() == 2


def test_ids_from_another_environment_of_the_same_organization_answer_404(
    client, world, signed_in, registered
):
    signed_in(world.owner)
    fn = Function.objects.get(slug="py-flow")
    dev = "/org-a/development/"
    assert client.get(dev + f"apps/{registered.public_id}/").status_code == 404
    assert client.get(dev + f"functions/{fn.public_id}/").status_code == 404
    assert client.get(dev + f"syncs/{registered.syncs.first().public_id}/").status_code == 404
