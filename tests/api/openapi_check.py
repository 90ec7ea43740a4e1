"""Validating real responses against the OpenAPI document: the document stays true because every
API test's answers go through here. `fuzz` holds a running server to it with generated input."""

import re
from urllib.parse import urlsplit

from django.urls import resolve
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from controlplane.api.v1_openapi import DOCUMENT


def openapi_path(url: str) -> str:
    """`/v1/runs/01H...` -> `/v1/runs/{run_id}`, from the Django route that serves it."""
    route = resolve(urlsplit(url).path).route
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def assert_documented(method: str, url: str, response) -> None:
    operation = DOCUMENT["paths"][openapi_path(url)][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {url}: undocumented status {status}"
    schema = operation["responses"][status]["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**schema, "components": DOCUMENT["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(response.json())
    ]
    assert not errors, f"{method} {url} -> {status} diverges from the document: {errors}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz(strategy, base_url: str, headers: dict, *, examples: int = 15) -> None:
    """Call a running server (test_openapi.py's live server, tests/chaos' server processes)
    with `examples` cases of a schemathesis strategy and hold each answer to CHECKS."""

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        # A negative case may leave the key out on purpose: putting it back would have the
        # server accept what the case meant as invalid.
        auth = {} if case.operation.schema.is_security_param_negated(case) else headers
        case.call_and_validate(base_url=base_url, headers=auth, checks=CHECKS)

    check()
