"""The REST API under test: a client whose every answer is checked against the OpenAPI document,
and keys of each kind for org A's production environment."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.engine.create import run_create
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.keys.models import ApiAccess
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.services import api_key_create
from controlplane.registry.services import app_register
from tests.api.openapi_check import assert_documented
from tests.registrations import function, python_body


class Api:
    def __init__(self, client):
        self.client = client

    def call(self, method: str, url: str, key: str | None, body=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key is not None else {}
        kwargs = {}
        if method == "POST":  # no body: an empty one, not the test client's empty form
            kwargs = {"data": body if body is not None else "", "content_type": "application/json"}
        response = getattr(self.client, method.lower())(url, **kwargs, **headers)
        assert_documented(method, url, response)
        return response

    def get(self, url, key, **kw):
        return self.call("GET", url, key, **kw)

    def delete(self, url, key, **kw):
        return self.call("DELETE", url, key, **kw)

    def post(self, url, key, **kw):
        return self.call("POST", url, key, **kw)


@pytest.fixture
def api(client):
    return Api(client)


def new_key(world, environment=None, *, access=ApiAccess.READ, expires_at=None) -> str:
    _key, secret = api_key_create(
        environment=environment or world.prod_a,
        actor=world.owner,
        name=f"key-{timezone.now().timestamp()}",
        access=access,
        expires_at=expires_at,
    )
    return secret


@pytest.fixture
def keys(world):
    """Bearers for org A production: signing key, read key, read-write key; and org B's."""
    return {
        "signing": active_signing_key(world.prod_a),
        "read": new_key(world),
        "write": new_key(world, access=ApiAccess.READ_WRITE),
        "other_env": new_key(world, world.dev_a, access=ApiAccess.READ_WRITE),
        "other_org": active_signing_key(world.prod_b),
        "expiring": new_key(world, expires_at=timezone.now() + timedelta(seconds=1)),
    }


@pytest.fixture
def app_a(world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f"), function("app", "g")]),
        kind="out_of_band",
    )
    assert sync.status == "success", sync.error
    return sync.app


@pytest.fixture
def run_a(world, app_a):
    [ingested] = events_ingest(
        environment=world.prod_a,
        payloads=[{"name": "test/f", "data": {"n": 1}}],
        source=EventSource.API,
    )
    return run_create(function=app_a.functions.get(slug="app-f"), events=[ingested.event])
