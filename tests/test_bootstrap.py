import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from controlplane.accounts.models import User
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
    assert first["environments"] == {
        env.slug: {"id": env.public_id} for env in org.environments.all()
    }
    assert set(first["environments"]) == {"production", "development"}
    again = bootstrap(*args)
    assert again == first
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
