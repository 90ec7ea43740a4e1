"""API keys: shown once, stored hashed, expiring, revocable, audited; managed by owners/admins."""

import hashlib
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from controlplane.keys.models import ApiAccess, ApiKey
from controlplane.keys.services import api_key_create, api_key_revoke
from controlplane.tenancy.models import AuditEntry

pytestmark = pytest.mark.django_db
PAGE = "/org-a/production/api/"


def test_a_key_is_stored_as_its_hash_and_shown_once(world):
    key, secret = api_key_create(
        environment=world.prod_a, actor=world.owner, name="ci", access=ApiAccess.READ
    )
    assert secret.startswith("cpk_") and len(secret) > 40
    assert key.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert key.prefix == secret[:12]
    stored = ApiKey.objects.filter(pk=key.pk).values()[0]
    assert secret not in {str(v) for v in stored.values()}
    entry = AuditEntry.objects.get(action="api_key.created")
    assert entry.environment == world.prod_a and entry.actor == world.owner
    assert entry.data == {"access": "read", "expires_at": None}


def test_it_refuses_a_bad_name_access_or_expiry(world):
    for kwargs in (
        {"name": " "},
        {"access": "admin"},
        {"expires_at": timezone.now() - timedelta(minutes=1)},
    ):
        with pytest.raises(ValidationError):
            api_key_create(
                environment=world.prod_a,
                actor=world.owner,
                **{"name": "k", "access": ApiAccess.READ, **kwargs},
            )
    assert not ApiKey.objects.exists()


def test_revoked_and_expired_keys_are_401_and_use_is_recorded(api, world, keys):
    key = ApiKey.objects.get(prefix=keys["read"][:12])
    assert key.last_used_at is None
    assert api.get("/v1/events", keys["read"]).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    api_key_revoke(api_key=key, actor=world.admin)
    response = api.get("/v1/events", keys["read"])
    assert response.status_code == 401 and "revoked" in response.json()["error"]
    with pytest.raises(ValidationError):
        api_key_revoke(api_key=key, actor=world.admin)
    assert AuditEntry.objects.filter(action="api_key.revoked", actor=world.admin).count() == 1
    time.sleep(1.1)  # the "expiring" key lives one second
    response = api.get("/v1/events", keys["expiring"])
    assert response.status_code == 401 and "expired" in response.json()["error"]


def test_owners_and_admins_create_keys_on_the_page_and_see_the_secret_once(
    client, world, signed_in
):
    signed_in(world.admin)
    response = client.post(
        PAGE + "keys/new/",
        {"name": "deploys", "access": "read_write", "expires_in": "30"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="deploys")
    assert key.access == "read_write" and key.created_by == world.admin
    assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
    secret = response.content.decode().split('id="new-api-key" type="text" readonly value="')[1][
        :47
    ]
    assert hashlib.sha256(secret.encode()).hexdigest() == key.key_hash
    page = client.get(PAGE).content.decode()
    assert key.prefix in page and secret not in page
    response = client.post(PAGE + f"keys/{key.public_id}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Revoked" in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_a_bad_form_shows_errors_and_creates_nothing(client, world, signed_in):
    signed_in(world.owner)
    response = client.post(
        PAGE + "keys/new/", {"name": "", "access": "root"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_see_keys_but_cannot_manage_them(client, world, signed_in, role):
    key, _secret = api_key_create(
        environment=world.prod_a, actor=world.owner, name="ci", access=ApiAccess.READ
    )
    signed_in(world.user(role))
    page = client.get(PAGE)
    assert page.status_code == 200 and key.prefix in page.content.decode()
    assert "Create API key" not in page.content.decode()
    assert client.post(PAGE + "keys/new/", {"name": "x", "access": "read"}).status_code == 403
    assert client.post(PAGE + f"keys/{key.public_id}/revoke/").status_code == 403
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_outsiders_get_404_and_keys_of_other_environments_are_404(client, world, signed_in):
    key, _secret = api_key_create(
        environment=world.dev_a, actor=world.owner, name="dev", access=ApiAccess.READ
    )
    signed_in(world.outsider)
    assert client.get(PAGE).status_code == 404
    signed_in(world.owner)
    assert client.post(PAGE + f"keys/{key.public_id}/revoke/").status_code == 404
    assert ApiKey.objects.get().revoked_at is None


def test_the_api_reference_page_shows_every_operation(client, world, signed_in):
    from controlplane.api.v1_openapi import DOCUMENT

    signed_in(world.viewer)
    page = client.get(PAGE + "reference/").content.decode()
    for path, methods in DOCUMENT["paths"].items():
        assert f"<code>{path}</code>" in page
        for method in methods:
            assert f">{method.upper()}</span>" in page
    assert 'id="schema-Step"' in page
