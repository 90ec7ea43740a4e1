"""Validating real responses against the OpenAPI document: the document stays true because every
API test's answers go through here."""

import re
from urllib.parse import urlsplit

from django.urls import resolve
from jsonschema import Draft202012Validator

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
