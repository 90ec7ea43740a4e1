import re
import time
from io import StringIO

import pytest
from django.core.management import call_command

from controlplane.keys import crypto
from controlplane.keys.models import EventKey, SigningKey
from controlplane.keys.selectors import (
    active_signing_key,
    environment_for_bearer,
    event_key_for_secret,
    verification_signing_keys,
)
from controlplane.keys.services import (
    event_key_create,
    signing_key_create_next,
    signing_key_promote,
    signing_key_revoke,
)
from controlplane.keys.signatures import bearer_hash, strip_prefix
from controlplane.tenancy.models import AuditEntry

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "member", "viewer"]


def keys_url(world, suffix=""):
    return f"/org-a/production/keys/{suffix}"


def fresh(client):
    """Mark the session as just re-authenticated (what the confirm page does)."""
    session = client.session
    session["reauthenticated_at"] = time.time()
    session.save()


def create_key(client, world, name="ci", **extra):
    return client.post(
        keys_url(world, "event/new/"), {"name": name}, HTTP_HX_REQUEST="true", **extra
    )


# --- Signing keys from birth ---------------------------------------------------------------


def test_every_environment_is_born_with_one_active_key_in_the_sdk_format(world):
    prod, dev = active_signing_key(world.prod_a), active_signing_key(world.dev_a)
    assert re.fullmatch(r"signkey-prod-[0-9a-f]{64}", prod)
    assert re.fullmatch(r"signkey-test-[0-9a-f]{64}", dev)
    assert SigningKey.objects.filter(environment=world.prod_a).count() == 1


def test_it_finds_the_environment_of_an_sdk_bearer_token(world):
    key = active_signing_key(world.prod_a)
    bearer = bearer_hash(key)
    assert environment_for_bearer(bearer) == world.prod_a  # Python SDK
    assert environment_for_bearer("signkey-prod-" + bearer) == world.prod_a  # TS SDK
    assert environment_for_bearer(key) == world.prod_a  # plaintext
    assert environment_for_bearer(strip_prefix(key)) == world.prod_a
    assert environment_for_bearer(bearer_hash(active_signing_key(world.prod_b))) == world.prod_b
    altered = bearer[:-1] + ("1" if bearer.endswith("0") else "0")  # one hex digit off
    for bad in ("", "undefined", "0" * 64, altered, "signkey-prod-zz"):
        assert environment_for_bearer(bad) is None


def test_rotation_keeps_old_and_new_keys_valid_until_the_fallback_is_revoked(world):
    old = active_signing_key(world.prod_a)
    _next, new = signing_key_create_next(environment=world.prod_a, actor=world.owner)
    assert environment_for_bearer(bearer_hash(new)) == world.prod_a
    assert active_signing_key(world.prod_a) == old  # still signing with the old key
    signing_key_promote(environment=world.prod_a, actor=world.owner)
    assert active_signing_key(world.prod_a) == new
    assert verification_signing_keys(world.prod_a) == [new, old]
    assert environment_for_bearer(bearer_hash(old)) == world.prod_a
    fallback = SigningKey.objects.get(environment=world.prod_a, state="fallback")
    signing_key_revoke(environment=world.prod_a, actor=world.owner, public_id=fallback.public_id)
    assert environment_for_bearer(bearer_hash(old)) is None
    assert verification_signing_keys(world.prod_a) == [new]
    actions = list(
        AuditEntry.objects.filter(environment=world.prod_a).values_list("action", flat=True)
    )
    assert {"signing_key.created", "signing_key.promoted", "signing_key.revoked"} <= set(actions)


def test_the_database_never_holds_raw_key_material(world):
    event_key, event_secret = event_key_create(
        environment=world.prod_a, actor=world.owner, name="k"
    )
    _n, next_key = signing_key_create_next(environment=world.prod_a, actor=world.owner)
    signing_key_promote(environment=world.prod_a, actor=world.owner)
    secrets = [event_secret, next_key, strip_prefix(next_key), bearer_hash(next_key)]
    for environment in (world.prod_a, world.dev_a, world.prod_b):
        for key in verification_signing_keys(environment):
            secrets += [strip_prefix(key), bearer_hash(key)]
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    text = dump.getvalue()
    assert len(text) > 1000
    for secret in secrets:
        assert secret not in text


def test_encryption_key_rotation_keeps_keys_readable(world, settings):
    from cryptography.fernet import Fernet

    before = active_signing_key(world.prod_a)
    settings.ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{settings.ENCRYPTION_KEY}"
    out = StringIO()
    call_command("reencrypt_signing_keys", stdout=out)
    assert f"Re-encrypted {SigningKey.objects.count()} signing keys" in out.getvalue()
    settings.ENCRYPTION_KEY = settings.ENCRYPTION_KEY.split(",")[0]
    assert active_signing_key(world.prod_a) == before
    assert crypto.decrypt(crypto.encrypt("x")) == "x"


# --- Event keys in the browser --------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_everyone_sees_key_names_and_prefixes_but_no_secrets(client, world, signed_in, role):
    event_key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="deploy")
    signed_in(world.user(role))
    page = client.get(keys_url(world)).content.decode()
    assert "deploy" in page and f"{event_key.prefix}…" in page
    assert secret not in page
    assert strip_prefix(active_signing_key(world.prod_a)) not in page
    assert ("Create event key" in page) == (role in ("owner", "admin"))
    assert ("Reveal" in page) == (role in ("owner", "admin"))


def test_outsiders_get_404_on_every_key_page_and_action(client, world, signed_in):
    event_key, _ = event_key_create(environment=world.prod_a, actor=world.owner, name="deploy")
    signing_key = SigningKey.objects.get(environment=world.prod_a)
    signed_in(world.outsider)
    fresh(client)
    assert client.get(keys_url(world)).status_code == 404
    for suffix in (
        "event/new/",
        f"event/{event_key.public_id}/toggle/",
        f"event/{event_key.public_id}/delete/",
        f"event/{event_key.public_id}/edit/",
        "signing/next/",
        "signing/promote/",
        f"signing/{signing_key.public_id}/reveal/",
        f"signing/{signing_key.public_id}/revoke/",
    ):
        assert client.post(keys_url(world, suffix)).status_code == 404, suffix
    assert EventKey.objects.get().enabled


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_cannot_manage_keys(client, world, signed_in, role):
    event_key, _ = event_key_create(environment=world.prod_a, actor=world.owner, name="deploy")
    signing_key = SigningKey.objects.get(environment=world.prod_a)
    next_key, _ = signing_key_create_next(environment=world.prod_a, actor=world.owner)
    signed_in(world.user(role))
    fresh(client)
    for suffix in (
        "event/new/",
        f"event/{event_key.public_id}/edit/",
        f"event/{event_key.public_id}/toggle/",
        f"event/{event_key.public_id}/delete/",
        "signing/next/",
        "signing/promote/",
        f"signing/{next_key.public_id}/revoke/",
        f"signing/{signing_key.public_id}/reveal/",
    ):
        assert client.post(keys_url(world, suffix), {"name": "x"}).status_code == 403, suffix
    event_key.refresh_from_db()
    assert EventKey.objects.count() == 1 and event_key.name == "deploy" and event_key.enabled
    states = dict(
        SigningKey.objects.filter(environment=world.prod_a).values_list("public_id", "state")
    )
    assert states == {signing_key.public_id: signing_key.state, next_key.public_id: next_key.state}


def test_it_shows_a_new_event_key_once_and_stores_its_hash(client, world, signed_in):
    signed_in(world.admin)
    response = create_key(client, world, name="ci deploys")
    html = response.content.decode()
    secret = re.search(
        r'id="new-event-key" type="text" readonly value="([0-9a-f]{64})"', html
    ).group(1)
    event_key = EventKey.objects.get()
    assert event_key.name == "ci deploys" and event_key.prefix == secret[:8]
    assert event_key_for_secret(secret) == event_key
    assert event_key_for_secret(secret[:-1] + "x") is None
    assert 'hx-swap-oob="beforeend:#event-keys tbody"' in html  # the new row joins the list
    assert secret not in client.get(keys_url(world)).content.decode()
    assert AuditEntry.objects.filter(action="event_key.created", actor=world.admin).exists()


def test_it_refuses_duplicate_and_empty_names(client, world, signed_in):
    signed_in(world.owner)
    create_key(client, world, name="ci")
    assert "has that name" in create_key(client, world, name="ci").content.decode()
    assert "This field is required" in create_key(client, world, name="").content.decode()
    assert EventKey.objects.count() == 1
    # The same name in another environment is fine.
    event_key_create(environment=world.dev_a, actor=world.owner, name="ci")


def test_it_renames_toggles_filters_and_deletes_in_place(client, world, signed_in):
    event_key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    signed_in(world.owner)
    base = keys_url(world, f"event/{event_key.public_id}/")
    edit = {
        "name": "ci-2",
        "mode": "allow",
        "events": "app/a\napp/b, app/a",
        "networks": "10.0.0.7/8\n::1",
    }
    row = client.post(base + "edit/", edit, HTTP_HX_REQUEST="true").content.decode()
    assert row.lstrip().startswith(f'<tr id="event-key-{event_key.public_id}"')
    event_key.refresh_from_db()
    assert (event_key.name, event_key.filter_mode) == ("ci-2", "allow")
    assert event_key.filter_events == ["app/a", "app/b"]
    assert event_key.filter_networks == ["10.0.0.0/8", "::1/128"]

    row = client.post(base + "toggle/", HTTP_HX_REQUEST="true").content.decode()
    assert "Disabled" in row
    event_key.refresh_from_db()
    assert event_key.enabled is False

    assert client.post(base + "delete/", HTTP_HX_REQUEST="true").content == b""
    assert not EventKey.objects.exists()
    again = client.post(base + "delete/", HTTP_HX_REQUEST="true").content.decode()
    assert "already deleted" in again
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {
        "event_key.renamed",
        "event_key.filter_changed",
        "event_key.disabled",
        "event_key.deleted",
    } <= actions


@pytest.mark.parametrize(
    "edit,error",
    [
        ({"mode": "allow", "events": "", "networks": ""}, "needs at least one event name"),
        ({"mode": "deny", "events": "has space", "networks": ""}, "not a valid event name"),
        ({"mode": "none", "events": "", "networks": "10.0.0.300/8"}, "not an IP address"),
        ({"mode": "sometimes", "events": "", "networks": ""}, "Select a valid choice"),
    ],
)
def test_it_rejects_bad_filters_and_keeps_the_old_one(client, world, signed_in, edit, error):
    event_key, _ = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    signed_in(world.owner)
    url = keys_url(world, f"event/{event_key.public_id}/edit/")
    row = client.post(url, {"name": "renamed", **edit}, HTTP_HX_REQUEST="true").content.decode()
    assert error in row
    event_key.refresh_from_db()
    assert (event_key.name, event_key.filter_mode, event_key.filter_networks) == ("ci", "none", [])


# --- Signing keys in the browser ------------------------------------------------------------


def test_revealing_a_signing_key_needs_a_fresh_confirmation(client, world, signed_in, settings):
    signing_key = SigningKey.objects.get(environment=world.prod_a)
    signed_in(world.admin)
    session = client.session
    session["reauthenticated_at"] = time.time() - settings.REAUTH_MAX_AGE_SECONDS - 1
    session.save()
    url = keys_url(world, f"signing/{signing_key.public_id}/reveal/")
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/account/confirm/?next=/org-a/production/keys/")
    assert not AuditEntry.objects.filter(action="signing_key.revealed").exists()

    wrong = client.post("/account/confirm/", {"secret": "nope", "next": keys_url(world)})
    assert "not right" in wrong.content.decode()
    from tests.conftest import PASSWORD

    assert client.post("/account/confirm/", {"secret": PASSWORD, "next": keys_url(world)})[
        "Location"
    ] == keys_url(world)
    html = client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert active_signing_key(world.prod_a) in html
    assert AuditEntry.objects.filter(action="signing_key.revealed", actor=world.admin).exists()


def test_it_rotates_signing_keys_from_the_browser(client, world, signed_in):
    old = active_signing_key(world.prod_a)
    signed_in(world.owner)
    fresh(client)
    html = client.post(keys_url(world, "signing/promote/"), HTTP_HX_REQUEST="true").content.decode()
    assert "no next key to promote" in html
    html = client.post(keys_url(world, "signing/next/"), HTTP_HX_REQUEST="true").content.decode()
    new = re.search(
        r'id="shown-signing-key" type="text" readonly value="(signkey-prod-[0-9a-f]{64})"', html
    ).group(1)
    assert (
        "already exists"
        in client.post(keys_url(world, "signing/next/"), HTTP_HX_REQUEST="true").content.decode()
    )
    client.post(keys_url(world, "signing/promote/"), HTTP_HX_REQUEST="true")
    assert active_signing_key(world.prod_a) == new
    active = SigningKey.objects.get(environment=world.prod_a, state="active")
    html = client.post(
        keys_url(world, f"signing/{active.public_id}/revoke/"), HTTP_HX_REQUEST="true"
    ).content
    assert b"active key cannot be revoked" in html
    fallback = SigningKey.objects.get(environment=world.prod_a, state="fallback")
    client.post(keys_url(world, f"signing/{fallback.public_id}/revoke/"), HTTP_HX_REQUEST="true")
    html = client.post(
        keys_url(world, f"signing/{fallback.public_id}/revoke/"), HTTP_HX_REQUEST="true"
    ).content
    assert b"already revoked" in html
    assert verification_signing_keys(world.prod_a) == [new] and old != new
