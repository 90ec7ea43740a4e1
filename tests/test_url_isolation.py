"""Every dashboard URL, filled with org B's identifiers, answers org A's owner with 404.

A new URL pattern that is not scoped through the tenant fails here without anyone writing a
test for it: the kwargs are filled from org B's world by name.
"""

from datetime import timedelta

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from controlplane.bulk.services import bulk_action_create, run_filter_build
from controlplane.engine.create import run_create
from controlplane.events.models import Event
from controlplane.events.services import events_ingest
from controlplane.keys.models import EventKey, SigningKey
from controlplane.keys.services import event_key_create
from controlplane.registry.models import App
from controlplane.registry.services import app_register
from controlplane.tenancy.models import Invitation, Membership
from controlplane.tenancy.services import invitation_create
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db

# Routes that are not tenant-scoped on purpose: account pages act on the signed-in person,
# setup only exists before the first account, the invitation link is its own credential, and
# machine endpoints authenticate with their own keys (tested in their own modules).
UNSCOPED = {
    "event-api",
    "fn-register",
    "home",
    "setup",
    "organization-new",
    "invitation",
    "login",
    "verify",
    "logout",
    "security",
    "totp-start",
    "totp-enroll",
    "backup-codes",
    "reauthenticate",
    "two-factor-disable",
    "password",
}


def walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


# Machine endpoints authenticate by key, not session; tests/test_api_isolation.py and tests/api/
# cover them. Operator endpoints (metrics, health) hold no tenant's objects:
# tests/test_observability_endpoints.py.
MACHINE_PREFIXES = ("admin/", "e/", "fn/", "v0/", "v1/", "metrics", "health/")


def dashboard_patterns():
    for route, pattern in walk(get_resolver()):
        if route.startswith(MACHINE_PREFIXES) or pattern.name in UNSCOPED:
            continue
        yield route, pattern


def foreign_ids(world) -> dict[str, str]:
    owner_b = Membership.objects.get(organization=world.org_b, user=world.outsider)
    invitation, _token = invitation_create(
        organization=world.org_b, actor_membership=owner_b, email="invitee@b.test", role="member"
    )
    event_key, _secret = event_key_create(
        environment=world.prod_b, actor=world.outsider, name="b-key"
    )
    sync = app_register(
        environment=world.prod_b,
        payload=python_body("b-app", [function("b-app", "hello")]),
        kind="out_of_band",
    )
    [event] = events_ingest(environment=world.prod_b, payloads=[{"name": "b/x"}], source="api")
    run = run_create(function=sync.app.functions.get(), events=[event.event])
    bulk = bulk_action_create(
        run_filter=run_filter_build(
            function=sync.app.functions.get(),
            kind="cancel",
            started_after=timezone.now() - timedelta(hours=1),
            started_before=timezone.now(),
        ),
        kind="cancel",
        actor=world.outsider,
        actor_label=world.outsider.email,
    )
    return {
        "org_slug": world.org_b.slug,
        "env_slug": world.prod_b.slug,
        "member_id": owner_b.public_id,
        "invitation_id": invitation.public_id,
        "key_id": event_key.public_id,
        "signing_key_id": world.prod_b.signing_keys.get().public_id,
        "app_id": sync.app.public_id,
        "sync_id": sync.public_id,
        "function_id": sync.app.functions.get().public_id,
        "event_id": event.event.public_id,
        "run_id": run.public_id,
        "bulk_id": bulk.public_id,
    }


def fill(route: str, values: dict[str, str]) -> str:
    import re

    def sub(match):
        name = match.group(2)
        assert name in values, f"add an org-B value for URL kwarg {name!r} in foreign_ids()"
        return values[name]

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", sub, route)


def test_it_answers_404_for_another_tenants_objects_on_every_url(client, world, signed_in):
    values = foreign_ids(world)
    signed_in(world.owner)
    checked = 0
    for route, pattern in dashboard_patterns():
        # Signing-key routes take a signing key's id under the same kwarg name.
        key_id = values["signing_key_id"] if "signing" in pattern.name else values["key_id"]
        url = fill(route, {**values, "key_id": key_id})
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 404, (
                f"{method.upper()} {url} ({pattern.name}) -> {response.status_code}"
            )
        checked += 1
    assert checked >= 9
    assert Membership.objects.filter(organization=world.org_b).count() == 1
    assert Invitation.objects.filter(organization=world.org_b).count() == 1
    assert EventKey.objects.get(environment=world.prod_b).enabled
    assert SigningKey.objects.filter(environment=world.prod_b).count() == 1
    app_b = App.objects.get(environment=world.prod_b)
    assert not app_b.is_archived and app_b.syncs.count() == 1
    assert Event.objects.count() == 1


def test_it_lists_every_top_level_route_as_a_reserved_organization_slug():
    from controlplane.tenancy.slugs import RESERVED_ORGANIZATION_SLUGS

    for route, _pattern in walk(get_resolver()):
        first = route.split("/", 1)[0]
        if first and not first.startswith("<"):
            assert first in RESERVED_ORGANIZATION_SLUGS, (
                f"/{first}/ would shadow an organization slug"
            )
