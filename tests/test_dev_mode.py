"""The server's dev-mode environment: marked by DEV_MODE_ENVIRONMENT=first, shown clearly."""

import pytest

from controlplane.tenancy.models import AuditEntry, Environment
from controlplane.tenancy.selectors import dev_mode_environment
from controlplane.tenancy.services import (
    environment_ensure_dev_mode,
    environment_set_dev_mode,
    organization_create,
)
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_the_first_organizations_development_environment_is_marked_at_creation(settings):
    settings.DEV_MODE_ENVIRONMENT = "first"
    first = organization_create(name="First", owner=make_user("a@first.test"))
    organization_create(name="Second", owner=make_user("b@second.test"))
    marked = dev_mode_environment()
    assert (marked.organization, marked.slug) == (first, "development")
    assert Environment.objects.filter(is_dev_mode=True).count() == 1
    entry = AuditEntry.objects.get(action="environment.dev_mode_enabled")
    assert entry.actor_label == "system" and entry.environment == marked


def test_serve_marks_an_existing_server_and_keeps_an_operators_choice(settings, world):
    """`manage.py serve` calls this at start: organizations may predate the setting."""
    assert environment_ensure_dev_mode() is None  # setting unset: nothing is marked
    assert dev_mode_environment() is None
    settings.DEV_MODE_ENVIRONMENT = "first"
    assert environment_ensure_dev_mode() == world.dev_a
    environment_set_dev_mode(environment=world.prod_b, actor=world.outsider)
    assert environment_ensure_dev_mode() == world.prod_b
    assert dev_mode_environment() == world.prod_b


def test_the_dashboard_shows_which_environment_is_dev_mode(client, world, signed_in):
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    signed_in(world.viewer)
    home = client.get("/org-a/development/").content.decode()
    assert 'class="badge dev-mode"' in home and "INNGEST_DEV=1" in home
    assert 'id="dev-mode"' in home
    production = client.get("/org-a/production/").content.decode()
    assert 'id="dev-mode"' not in production
    # The environment switcher marks it on every page.
    switcher = production.split('id="env-switcher"')[1].split("</details>")[0]
    assert switcher.count("Dev mode") == 1
    apps = client.get("/org-a/development/apps/").content.decode()
    assert "dev mode: unsigned" not in apps  # viewers see no sync form
    signed_in(world.member)
    apps = client.get("/org-a/development/apps/").content.decode()
    assert "dev mode: unsigned" in apps
