import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from controlplane.accounts.models import User
from controlplane.keys.models import EventKey
from controlplane.keys.selectors import active_signing_key, event_key_for_secret
from controlplane.tenancy.models import Organization

pytestmark = pytest.mark.django_db


def bootstrap(*args) -> dict:
    out = StringIO()
    call_command("bootstrap", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_creates_owner_organization_and_environments_once():
    args = ("--org", "Acme", "--email", "ops@acme.test", "--password", "a long enough passphrase")
    first = bootstrap(*args)
    assert first["organization"] == "acme"
    org = Organization.objects.get(slug="acme")
    assert set(first["environments"]) == {"production", "development"}
    for env in org.environments.all():
        printed = first["environments"][env.slug]
        assert printed["id"] == env.public_id
        assert printed["signing_key"] == active_signing_key(env)
        assert event_key_for_secret(printed["event_key"]).environment == env
    assert first["environments"]["production"]["signing_key"].startswith("signkey-prod-")
    assert first["environments"]["development"]["signing_key"].startswith("signkey-test-")
    again = bootstrap(*args)
    assert again["organization"] == first["organization"]
    for slug, printed in again["environments"].items():
        assert printed["id"] == first["environments"][slug]["id"]
        assert printed["signing_key"] == first["environments"][slug]["signing_key"]
        # A key is shown once, so a re-run replaces the bootstrap key with a working new one.
        assert event_key_for_secret(printed["event_key"]) is not None
        assert event_key_for_secret(first["environments"][slug]["event_key"]) is None
    assert EventKey.objects.filter(name="bootstrap").count() == 2
    assert Organization.objects.count() == 1 and User.objects.count() == 1
    assert User.objects.get().check_password("a long enough passphrase")


def test_it_refuses_a_weak_password_or_someone_elses_organization():
    with pytest.raises(CommandError, match="too common|too short"):
        bootstrap("--org", "Acme", "--email", "a@acme.test", "--password", "password")
    assert not User.objects.exists()
    bootstrap("--org", "Acme", "--email", "a@acme.test", "--password", "a long enough passphrase")
    with pytest.raises(CommandError, match="is not its owner"):
        bootstrap(
            "--org", "Acme", "--email", "b@acme.test", "--password", "another long passphrase"
        )
