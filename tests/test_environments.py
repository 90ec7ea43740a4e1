import pytest

from controlplane.engine.actions import ReplayRefused, run_cancel_by, run_replay
from controlplane.engine.cron import fire_cron
from controlplane.engine.invoke import function_invoke
from controlplane.keys.selectors import active_signing_key
from controlplane.registry.services import app_register
from controlplane.runs.models import Run
from controlplane.tenancy.models import AuditEntry, Environment
from controlplane.tenancy.services import environment_create, environment_set_archived
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db

URL = "/org-a/settings/environments/"


@pytest.mark.parametrize(
    "role,status",
    [("owner", 200), ("admin", 200), ("member", 403), ("viewer", 403), ("outsider", 404)],
)
def test_it_guards_the_environments_page(client, world, signed_in, role, status):
    signed_in(world.user(role))
    assert client.get(URL).status_code == status
    assert client.post(URL, {"name": "Staging"}).status_code in (status, 302)
    assert Environment.objects.filter(name="Staging").exists() == (status == 200)


@pytest.mark.parametrize("role,status", [("member", 403), ("viewer", 403), ("outsider", 404)])
def test_only_owners_and_admins_rename_or_archive(client, world, signed_in, role, status):
    signed_in(world.owner)
    client.post(URL, {"name": "Staging"})
    signed_in(world.user(role))
    assert client.post(URL + "staging/", {"name": "Renamed"}).status_code == status
    assert client.post(URL + "staging/", {"archived": "true"}).status_code == status
    staging = Environment.objects.get(slug="staging", organization__slug="org-a")
    assert staging.name == "Staging" and not staging.is_archived


def test_it_creates_custom_environments_with_their_own_signing_key(client, world, signed_in):
    signed_in(world.admin)
    assert client.post(URL, {"name": "QA Preview"}).status_code == 302
    qa = world.org_a.environments.get(slug="qa-preview")
    assert qa.kind == "custom"
    assert active_signing_key(qa).startswith("signkey-test-")
    client.post(URL, {"name": "Staging", "slug": "stg"})
    assert world.org_a.environments.filter(slug="stg", name="Staging").exists()
    assert client.get("/org-a/stg/").status_code == 200


@pytest.mark.parametrize(
    "data,error",
    [
        ({"name": "Staging", "slug": "production"}, "uses that slug"),
        ({"name": "Staging", "slug": "settings"}, "is reserved"),
        ({"name": "Staging", "slug": "Not A Slug"}, "valid “slug”"),
        ({"name": "", "slug": ""}, "required"),
    ],
)
def test_it_rejects_bad_environment_input(client, world, signed_in, data, error):
    signed_in(world.owner)
    count = Environment.objects.count()
    response = client.post(URL, data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert Environment.objects.count() == count


def test_it_renames_and_archives_custom_environments(client, world, signed_in):
    signed_in(world.owner)
    client.post(URL, {"name": "Staging"})
    row = client.post(
        URL + "staging/", {"name": "Staging EU"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'value="Staging EU"' in row
    row = client.post(
        URL + "staging/", {"archived": "true"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Archived" in row and "Unarchive" in row
    staging = world.org_a.environments.get(slug="staging")
    assert staging.is_archived
    page = client.get("/org-a/staging/").content.decode()
    assert "This environment is archived" in page
    client.post(URL + "staging/", {"archived": "false"}, HTTP_HX_REQUEST="true")
    staging.refresh_from_db()
    assert not staging.is_archived
    actions = set(AuditEntry.objects.filter(environment=staging).values_list("action", flat=True))
    assert {"environment.renamed", "environment.archived", "environment.unarchived"} <= actions


def test_production_and_development_cannot_be_archived(client, world, signed_in):
    signed_in(world.owner)
    response = client.post(URL + "production/", {"archived": "true"}, HTTP_HX_REQUEST="true")
    assert "Only custom environments" in response.content.decode()
    world.prod_a.refresh_from_db()
    assert not world.prod_a.is_archived


def test_at_most_one_environment_is_the_dev_mode_environment(world):
    from controlplane.tenancy.selectors import dev_mode_environment
    from controlplane.tenancy.services import environment_set_dev_mode

    assert dev_mode_environment() is None
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    environment_set_dev_mode(environment=world.prod_b, actor=world.outsider)
    assert dev_mode_environment() == world.prod_b
    assert Environment.objects.filter(is_dev_mode=True).count() == 1


def test_an_archived_environment_starts_no_runs_by_cron_or_replay(world):
    staging = environment_create(
        organization=world.org_a, actor=world.owner, name="Staging", kind="custom"
    )
    app = app_register(
        environment=staging,
        payload=python_body("app", [function("app", "tick", triggers=[{"cron": "* * * * *"}])]),
        kind="out_of_band",
    ).app
    tick = app.functions.get()
    finished = function_invoke(function=tick, data={})
    run_cancel_by(run=finished, actor=world.owner)
    environment_set_archived(environment=staging, actor=world.owner, archived=True)
    tick.refresh_from_db()
    due = tick.triggers.get().cron_next_at
    assert fire_cron(function=tick.public_id, cron="* * * * *", now=due) == 0
    with pytest.raises(ReplayRefused, match="archived"):
        run_replay(run=Run.objects.get(pk=finished.pk), actor=world.owner)
    assert Run.objects.count() == 1
