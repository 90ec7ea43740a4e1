import pytest

from controlplane.tenancy.models import AuditEntry, Organization, Role

pytestmark = pytest.mark.django_db


def test_it_opens_the_first_organization_on_production(client, world, signed_in):
    signed_in(world.viewer)
    assert client.get("/")["Location"] == "/org-a/"
    assert client.get("/org-a/")["Location"] == "/org-a/production/"
    page = client.get("/org-a/production/").content.decode()
    assert "Production" in page and "INNGEST_BASE_URL=http://testserver" in page


def test_it_switches_between_organizations_and_environments(client, world, signed_in):
    from controlplane.tenancy.models import Membership

    Membership.objects.create(organization=world.org_b, user=world.viewer, role=Role.VIEWER)
    signed_in(world.viewer)
    page = client.get("/org-a/development/").content.decode()
    switchers = page[page.index('id="org-switcher"') : page.index('class="user-menu"')]
    assert 'href="/org-b/"' in switchers
    assert 'href="/org-a/production/"' in switchers and 'href="/org-a/development/"' in switchers
    assert client.get("/org-b/production/").status_code == 200


def test_it_sends_people_without_an_organization_to_create_one(client, world, signed_in):
    from controlplane.tenancy.models import Membership

    Membership.objects.filter(user=world.viewer).delete()
    signed_in(world.viewer)
    assert client.get("/")["Location"] == "/orgs/new/"
    response = client.post("/orgs/new/", {"name": "Viewer's Own"})
    org = Organization.objects.get(name="Viewer's Own")
    assert response["Location"] == f"/{org.slug}/"
    assert org.memberships.get().role == Role.OWNER
    assert org.environments.count() == 2


def test_it_never_gives_an_organization_a_reserved_slug(world):
    from controlplane.tenancy.services import organization_create

    assert organization_create(name="Setup", owner=world.owner).slug == "setup-2"
    assert organization_create(name="Org A", owner=world.owner).slug == "org-a-2"
    assert organization_create(name="!!!", owner=world.owner).slug == "org"


@pytest.mark.parametrize(
    "role,status",
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_it_guards_the_settings_page_by_role(client, world, signed_in, role, status):
    signed_in(world.user(role))
    assert client.get("/org-a/settings/").status_code == status
    assert client.get("/org-a/settings/audit/").status_code == status


def test_it_updates_settings_and_audits_the_change(client, world, signed_in):
    signed_in(world.admin)
    response = client.post("/org-a/settings/", {"name": "Org A Renamed"})
    assert response.status_code == 302
    world.org_a.refresh_from_db()
    assert world.org_a.name == "Org A Renamed"
    entry = AuditEntry.objects.get(action="organization.updated")
    assert entry.data == {"name": ["Org A", "Org A Renamed"]}
    log = client.get("/org-a/settings/audit/").content.decode()
    assert "organization.updated" in log and world.admin.email in log


def test_it_requires_the_admin_to_use_two_factor_before_enforcing_it(client, world, signed_in):
    signed_in(world.admin)
    response = client.post("/org-a/settings/", {"name": "Org A", "require_two_factor": "on"})
    assert "before requiring it" in response.content.decode()
    world.org_a.refresh_from_db()
    assert world.org_a.require_two_factor is False


def test_it_rejects_an_empty_name(client, world, signed_in):
    signed_in(world.owner)
    response = client.post("/org-a/settings/", {"name": "   "})
    assert response.status_code == 200
    world.org_a.refresh_from_db()
    assert world.org_a.name == "Org A"


def test_it_paginates_the_audit_log_newest_first(client, world, signed_in):
    from controlplane.tenancy.audit import audit_record

    for n in range(60):
        audit_record(organization=world.org_a, actor=None, action=f"test.{n:02d}")
    signed_in(world.owner)
    first = client.get("/org-a/settings/audit/")
    entries = first.context["entries"]
    assert len(entries) == 50
    assert first.context["next_before"] == entries[-1].public_id
    second = client.get(f"/org-a/settings/audit/?before={first.context['next_before']}")
    older = second.context["entries"]
    seen = {e.public_id for e in entries} | {e.public_id for e in older}
    assert len(seen) == AuditEntry.objects.filter(organization=world.org_a).count()
    assert second.context["next_before"] is None
    assert "test." not in client.get("/org-b/settings/audit/").content.decode()
