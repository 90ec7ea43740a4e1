"""The server's dev-mode environment: marked by DEV_MODE_ENVIRONMENT=first, shown clearly."""

import json
import os
import subprocess
import sys
import threading

import httpx
import pytest
from django.db import connection

from controlplane.events.models import Event
from controlplane.registry.models import App
from controlplane.tenancy.models import AuditEntry, Environment
from controlplane.tenancy.selectors import dev_mode_environment
from controlplane.tenancy.services import (
    environment_ensure_dev_mode,
    environment_set_dev_mode,
    organization_create,
)
from tests.conftest import make_user
from tests.engine.harness import ROOT, ServerProcess, database_url
from tests.registrations import function, python_body

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


def test_the_first_request_that_needs_it_marks_an_organization_made_elsewhere(client, settings):
    """`manage.py bootstrap` runs in a process of its own, without DEV_MODE_ENVIRONMENT: the
    server that has the setting marks the environment when an SDK first asks for it."""
    organization = organization_create(name="Acme", owner=make_user("ops@acme.test"))
    assert dev_mode_environment() is None
    settings.DEV_MODE_ENVIRONMENT = "first"
    response = client.post(
        "/e/NO_EVENT_KEY_SET", {"name": "app/x"}, content_type="application/json"
    )
    assert response.status_code == 200
    development = organization.environments.get(slug="development")
    assert Event.objects.get().environment == development == dev_mode_environment()


def test_the_dashboard_marks_it_before_any_app_asked(client, settings, signed_in):
    """Its pages say where INNGEST_DEV=1 apps sync, and a sync by URL talks to them unsigned."""
    owner = make_user("ops@acme.test")
    organization_create(name="Acme", owner=owner)
    settings.DEV_MODE_ENVIRONMENT = "first"
    signed_in(owner)
    assert 'id="dev-mode"' in client.get("/acme/development/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_first_requests_at_once_mark_one_environment_once(settings):
    organization = organization_create(name="Acme", owner=make_user("ops@acme.test"))
    settings.DEV_MODE_ENVIRONMENT = "first"
    barrier, marked = threading.Barrier(2), []

    def first_request():
        barrier.wait()
        try:
            marked.append(environment_ensure_dev_mode())
        finally:
            connection.close()

    threads = [threading.Thread(target=first_request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    development = organization.environments.get(slug="development")
    assert marked == [development, development]
    assert AuditEntry.objects.filter(action="environment.dev_mode_enabled").count() == 1


def _bootstrap() -> dict:
    """`manage.py bootstrap --json` in a process of its own, as a scripted install runs it."""
    env = {k: v for k, v in os.environ.items() if k != "DEV_MODE_ENVIRONMENT"}
    env |= {"DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    command = ["manage.py", "bootstrap", "--org", "Acme", "--email", "ops@acme.test"]
    command += ["--password", "a long enough passphrase", "--json"]
    done = subprocess.run(
        [sys.executable, *command], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.django_db(transaction=True)
def test_a_running_dev_server_serves_an_organization_bootstrapped_after_it_started():
    """`make run`, then the README's scripted install: no restart between them."""
    dev_server = ServerProcess({"DEV_MODE_ENVIRONMENT": "first"}).start()
    signed_server = ServerProcess({"DEV_MODE_ENVIRONMENT": ""}).start()
    try:
        keys = _bootstrap()["environments"]
        registration = python_body("local", [function("local", "hello")])
        # A server without the setting has no dev-mode environment to offer.
        assert httpx.post(f"{signed_server.url}/fn/register", json=registration).status_code == 401
        for key in ("NO_EVENT_KEY_SET", "test-key-123"):
            refused = httpx.post(f"{signed_server.url}/e/{key}", json={"name": "app/refused"})
            assert refused.status_code == 401, key

        synced = httpx.post(f"{dev_server.url}/fn/register", json=registration)
        assert synced.status_code == 200, synced.text
        for key in ("NO_EVENT_KEY_SET", "test-key-123"):
            sent = httpx.post(f"{dev_server.url}/e/{key}", json={"name": f"app/{key}"})
            assert sent.status_code == 200, sent.text
        production = httpx.post(
            f"{dev_server.url}/e/{keys['production']['event_key']}", json={"name": "app/prod"}
        )
        assert production.status_code == 200, production.text
    finally:
        dev_server.stop()
        signed_server.stop()
    development = Environment.objects.get(slug="development")
    assert development.is_dev_mode and Environment.objects.filter(is_dev_mode=True).count() == 1
    assert App.objects.get().environment == development
    by_name = {e.name: e.environment.slug for e in Event.objects.all()}
    assert by_name == {
        "app/NO_EVENT_KEY_SET": "development",
        "app/test-key-123": "development",
        "app/prod": "production",
    }


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
