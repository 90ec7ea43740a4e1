"""Bad input at every public endpoint of a real server process of the shape: malformed JSON,
wrong types, deep nesting, invalid UTF-8, NUL bytes, huge names and bodies, unknown, disabled
and revoked keys. Each gets a clear 4xx (JSON with an `error`), and nothing is half-written:
the database's counts stay what they were.

The Event API's refusals (tests/test_event_api.py) and the REST API's fuzzing
(tests/api/test_openapi.py) are reused here, against `manage.py serve` on PostgreSQL instead
of the test client."""

import json
from collections import Counter

import httpx
import pytest
import schemathesis
from schemathesis import GenerationMode

from controlplane.api.v1_openapi import DOCUMENT
from controlplane.keys.signatures import bearer_hash
from tests.api.openapi_check import fuzz
from tests.chaos.runs import wait_for_runs
from tests.test_event_api import MALFORMED

MIB = 1024 * 1024
DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE = b'{"name": "chaos/x", "data": {"blob": "' + b"x" * (5 * MIB) + b'"}}'
BAD_BODIES = {
    "malformed JSON": b"{not json",
    "invalid UTF-8": b"\xff\xfe\xfa",
    "a raw NUL byte": b'{"name": "a\x00b"}',
    "an escaped NUL": b'{"name": "chaos/x", "data": {"s": "a\\u0000b"}}',
    "wrong types": b'{"name": 5, "data": [1], "functions": "x", "url": 7, "metadata": 1}',
    "not an object": b"[1, 2]",
    "a huge name": json.dumps({"name": "n" * 100_000, "appname": "n" * 100_000}).encode(),
    "deep nesting": DEEP,
    "a huge body": HUGE,
}
# Where bad bodies go: the Event API, the SDK endpoints (registration, checkpoints, metadata)
# and the REST API's writes.
ENDPOINTS = [
    "/e/{event_key}",
    "/fn/register",
    "/v1/runs/{run}/metadata",
    "/v1/checkpoint/{run}/async",
    "/v1/functions/chaos-steps/invoke",
    "/v1/cancellations",
    "/v1/replays",
]

# Rows that bad input must not add (cron's runs come and go meanwhile: not counted).
CRON_RUNS = (
    "SELECT r.id FROM runs_run r JOIN registry_function f ON f.id = r.function_id "
    "WHERE f.slug = 'chaos-minutely'"
)
COUNTED = {
    "events": "SELECT count(*) FROM events_event WHERE name NOT LIKE 'inngest/%'",
    "runs": f"SELECT count(*) FROM runs_run WHERE id NOT IN ({CRON_RUNS})",
    "steps": f"SELECT count(*) FROM runs_step WHERE run_id NOT IN ({CRON_RUNS})",
    "history": f"SELECT count(*) FROM runs_runhistory WHERE run_id NOT IN ({CRON_RUNS})",
    "jobs": f"SELECT count(*) FROM runs_job WHERE run_id NOT IN ({CRON_RUNS})",
    **{
        table: f"SELECT count(*) FROM {table}"
        for table in (
            "runs_runmetadata",
            "runs_defer",
            "runs_wait",
            "registry_app",
            "registry_function",
            "registry_functiontrigger",
            "keys_eventkey",
            "keys_apikey",
            "keys_signingkey",
            "bulk_bulkaction",
            "flow_skip",
            "flow_pending",
        )
    },
    "successful syncs": "SELECT count(*) FROM registry_appsync WHERE status = 'success'",
}


def counts(shape) -> dict[str, int]:
    [row] = shape.rows("SELECT " + ", ".join(f"({sql})" for sql in COUNTED.values()))
    return dict(zip(COUNTED, row, strict=True))


@pytest.fixture(scope="module")
def run_id(shape) -> str:
    """A finished run of this environment, so that run URLs reach their body's validation."""
    sent = httpx.post(
        f"{shape.servers[0].url}/e/{shape.production.event_key}",
        json={"name": "chaos/steps", "data": {"scenario": "bad-input", "steps": 1}},
    )
    assert sent.status_code == 200, sent.text
    wait_for_runs(shape, "bad-input", count=1, timeout=60)
    return shape.scalar(
        "SELECT r.public_id FROM runs_run r JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = 'bad-input'"
    )


def post(shape, path: str, body: bytes, *, run: str = "", bearer: str | None = None):
    url = shape.servers[0].url + path.format(event_key=shape.production.event_key, run=run)
    bearer = bearer_hash(shape.production.signing_key) if bearer is None else bearer
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    return httpx.post(url, content=body, headers=headers, timeout=60)


def unclear(response) -> str | None:
    """Why the answer is not a clear 4xx (None: it is)."""
    clear = 400 <= response.status_code < 500 and response.headers.get(
        "content-type", ""
    ).startswith("application/json")
    if clear and isinstance(response.json().get("error"), str):
        return None
    return f"{response.status_code} {response.headers.get('content-type')}: {response.text[:120]}"


def send_all(shape, run: str, cases, figures) -> dict[str, str]:
    """Post every (path, body name); what was not a clear 4xx. The database's counts must not
    move."""
    before, answers, failures = counts(shape), Counter(), {}
    for path, name in cases:
        response = post(shape, path, BAD_BODIES[name], run=run)
        answers[response.status_code] += 1
        if reason := unclear(response):
            failures[f"{name} to {path}"] = reason
    figures.notes = f"{sum(answers.values())} requests: {dict(answers)}"
    assert counts(shape) == before
    return failures


def test_bad_bodies_at_every_endpoint_get_a_clear_4xx(shape, run_id, figures):
    cases = [(path, name) for path in ENDPOINTS for name in BAD_BODIES]
    assert send_all(shape, run_id, cases, figures) == {}


def test_the_event_apis_refusals_hold_on_a_server_process(shape, figures):
    before = counts(shape)
    refusals = [
        *((body, 400, fragments) for body, fragments in MALFORMED),
        ([{"name": "chaos/x"}] * 5_001, 413, ["at most 5000 events"]),
        ([{"name": "chaos/x", "data": {"blob": "x" * (512 * 1024)}}], 413, ["index 0"]),
        (HUGE, 413, []),
    ]
    for body, status, fragments in refusals:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = post(shape, "/e/{event_key}", raw)
        assert response.status_code == status, (body[:80], response.text[:300])
        answer = response.json()
        assert answer["ids"] == [] and all(f in answer["error"] for f in fragments), answer
    figures.notes = f"{len(refusals)} refusals as tests/test_event_api.py has them"
    assert counts(shape) == before


def test_unknown_disabled_and_revoked_keys_get_401(shape, run_id, figures):
    disabled, deleted, revoked = _spent_keys(shape)
    before = counts(shape)
    event = b'{"name": "chaos/x"}'
    refused = [
        post(shape, f"/e/{secret}", event) for secret in ("0" * 64, disabled, deleted, "x" * 5000)
    ]
    for bearer in ("nonsense", "signkey-prod-" + "0" * 64, "cpk_" + "0" * 43, revoked):
        refused += [
            post(shape, "/fn/register", b"{}", bearer=bearer),
            post(shape, "/v1/runs/{run}/metadata", b"{}", run=run_id, bearer=bearer),
            post(shape, "/v1/checkpoint/{run}/async", b"{}", run=run_id, bearer=bearer),
            post(shape, "/v1/functions/chaos-steps/invoke", b"{}", bearer=bearer),
            httpx.get(
                f"{shape.servers[0].url}/v1/runs/{run_id}",
                headers={"Authorization": f"Bearer {bearer}"},
            ),
        ]
    figures.notes = f"{len(refused)} requests"
    assert [(r.status_code, unclear(r)) for r in refused] == [(401, None)] * len(refused)
    assert counts(shape) == before


def _spent_keys(shape) -> tuple[str, str, str]:
    """A disabled and a deleted event key and a revoked API key of the environment."""
    code = f"""
import json
from controlplane.accounts.models import User
from controlplane.keys import services
from controlplane.tenancy.models import Environment
env = Environment.objects.get(public_id="{shape.production.id}")
owner = User.objects.get(email="ops@chaos.test")
disabled, disabled_secret = services.event_key_create(environment=env, actor=owner, name="off")
services.event_key_set_enabled(event_key=disabled, actor=owner, enabled=False)
deleted, deleted_secret = services.event_key_create(environment=env, actor=owner, name="gone")
services.event_key_delete(event_key=deleted, actor=owner)
api_key, api_secret = services.api_key_create(
    environment=env, actor=owner, name="revoked", access="read_write"
)
services.api_key_revoke(api_key=api_key, actor=owner)
print(json.dumps([disabled_secret, deleted_secret, api_secret]))
"""
    return tuple(json.loads(shape.django(code).strip().splitlines()[-1]))


def test_the_rest_api_refuses_generated_bad_input(shape, run_id, figures):
    """Schemathesis' negative cases for every operation, with real ids (so validation past the
    lookup is reached) and generated ones."""
    before = counts(shape)
    ids = {"run_id": run_id, "app_id": "chaos", "function_id": "chaos-steps"}
    headers = {"Authorization": f"Bearer {bearer_hash(shape.production.signing_key)}"}
    operations = [r.ok() for r in schemathesis.openapi.from_dict(DOCUMENT).get_all_operations()]
    for operation in operations:
        names = {p["name"] for p in operation.definition.raw.get("parameters", [])}
        real = {k: v for k, v in ids.items() if k in names} or None
        for path_parameters in [None, real] if real else [None]:
            strategy = operation.as_strategy(
                GenerationMode.NEGATIVE, path_parameters=path_parameters
            )
            # The negative strategy also yields valid cases when nothing was left to break (an
            # invoke without a body): with a real id and key they would write (a run, a pause).
            fuzz(strategy.filter(_negative), shape.servers[0].url, headers, examples=10)
    figures.notes = f"{len(operations)} operations, 10 negative cases each way"
    assert counts(shape) == before


def _negative(case) -> bool:
    return case.meta.generation.mode == GenerationMode.NEGATIVE
