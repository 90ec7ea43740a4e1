"""The OpenAPI document: valid, complete, served, and true of the running server."""

import pytest
import schemathesis
from django.urls import get_resolver
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from controlplane.api.v1_openapi import DOCUMENT
from controlplane.keys.models import ApiAccess
from controlplane.keys.services import api_key_create
from tests.api.openapi_check import fuzz, openapi_path
from tests.test_url_isolation import walk


def test_the_document_is_valid_openapi_3_1():
    validate(DOCUMENT)


def test_every_v1_route_and_method_is_documented(client):
    routes = {
        "/" + route: pattern
        for route, pattern in walk(get_resolver())
        # The SDK endpoints under /v1 (checkpoints) are the SDKs' contract, not the REST API.
        if route.startswith("v1/")
        and pattern.name != "v1-openapi"
        and not pattern.name.startswith("sdk-")
    }
    paths = {openapi_path(_example(route)) for route in routes}
    assert paths == set(DOCUMENT["paths"]), "document every /v1 route (and only those)"


def _example(route: str) -> str:
    import re

    return re.sub(r"<(?:\w+:)?(\w+)>", "01ARZ3NDEKTSV4RRFFQ69G5FAV", route)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,path",
    [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item],
)
def test_every_operation_answers_401_without_a_valid_key(api, keys, method, path):
    url = _example(path.replace("{", "<").replace("}", ">"))
    for bearer in (None, "nonsense", "signkey-prod-" + "0" * 64):
        response = api.call(method, url, bearer)
        assert response.status_code == 401 and response.json()["status"] == 401


@pytest.mark.django_db
def test_the_document_is_served_without_a_key(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200 and response.json() == DOCUMENT


@pytest.fixture
def write_key(world):
    return api_key_create(
        environment=world.prod_a, actor=world.owner, name="fuzz", access=ApiAccess.READ_WRITE
    )[1]


@pytest.mark.django_db(transaction=True)
def test_the_running_server_never_answers_5xx_and_matches_the_document(
    live_server_url, write_key, run_a
):
    """Schemathesis, bounded: each operation with generated valid and invalid input, once with
    generated ids and once with real ones (so the 200 paths are explored too)."""
    real_ids = {
        "run_id": run_a.public_id,
        "event_id": run_a.event.public_id,
        "app_id": "app",
        "function_id": "app-g",
    }
    headers = {"Authorization": f"Bearer {write_key}"}
    for result in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations():
        operation = result.ok()
        names = {p["name"] for p in operation.definition.raw.get("parameters", [])}
        ids = {k: v for k, v in real_ids.items() if k in names} or None
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids),
        ]
        for strategy in strategies:
            fuzz(strategy, live_server_url, headers)
