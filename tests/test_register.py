"""`POST /fn/register`: authentication, both SDKs' spellings, validation, the function set."""

import json

import pytest

from controlplane.keys.selectors import active_signing_key
from controlplane.keys.signatures import bearer_hash
from controlplane.registry.models import App, AppSync, Function, FunctionTrigger
from controlplane.registry.selectors import event_triggers_for, function_by_slug
from controlplane.registry.services import app_set_archived
from controlplane.tenancy.models import AuditEntry
from controlplane.tenancy.services import (
    environment_create,
    environment_set_archived,
    environment_set_dev_mode,
)
from tests.registrations import APP_URL, function, python_body, ts_body

pytestmark = pytest.mark.django_db


def post(client, body, authorization=None, query=""):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(f"/fn/register{query}", content, content_type="application/json", **headers)


def bearer(environment, *, ts=False) -> str:
    key = active_signing_key(environment)
    token = bearer_hash(key)
    return f"Bearer {key[:13] + token if ts else token}"


def live_slugs(environment) -> set[str]:
    return set(environment.functions.filter(removed_at__isnull=True).values_list("slug", flat=True))


def test_it_registers_a_python_app_into_the_environment_of_its_bearer(client, world):
    body = python_body(
        "py",
        [
            function("py", "hello"),
            function("py", "nightly", triggers=[{"cron": "TZ=Europe/Paris 0 3 * * *"}], retries=2),
        ],
    )
    response = post(client, body, bearer(world.prod_a))
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "modified": True,
        "status": 200,
        "sync_id": AppSync.objects.get().public_id,
        "app_id": "py",
    }
    app = App.objects.get(environment=world.prod_a)
    assert (app.app_id, app.url, app.sdk, app.framework) == ("py", APP_URL, "py:v0.5.19", "flask")
    assert live_slugs(world.prod_a) == {"py-hello", "py-nightly"}
    nightly = function_by_slug(environment=world.prod_a, slug="py-nightly")
    assert nightly.max_attempts == 3 and nightly.version == 1
    assert nightly.step_url == f"{APP_URL}?fnId=py-nightly&stepId=step"
    assert [t.cron for t in nightly.triggers.all()] == ["TZ=Europe/Paris 0 3 * * *"]
    [trigger] = event_triggers_for(environment=world.prod_a, event_name="test/hello")
    assert trigger.function.slug == "py-hello"
    sync = AppSync.objects.get()
    assert (sync.status, sync.kind, sync.app, sync.error) == ("success", "out_of_band", app, "")
    assert sync.diff == {"added": ["py-hello", "py-nightly"], "removed": [], "changed": []}
    entry = AuditEntry.objects.get(action="app.synced")
    assert entry.environment == world.prod_a and entry.actor_label == "system"


def test_it_reads_the_typescript_spellings_and_strips_deploy_id(client, world):
    flow = function(
        "ts",
        "flow",
        concurrency={"limit": 5, "key": "event.data.user"},
        cancel=[],
        batchEvents=None,
    )
    body = ts_body("ts", [flow], deploy_id="dep-1")
    response = post(client, body, bearer(world.prod_a, ts=True), query="?deployId=dep-1")
    assert response.status_code == 200, response.content
    app = App.objects.get()
    assert (app.app_id, app.url, app.sdk) == ("ts", APP_URL, "js:v4.24.0")
    config = Function.objects.get().config
    assert "deployId" not in json.dumps(config)
    assert config["concurrency"] == [{"limit": 5, "key": "event.data.user"}]
    assert "cancel" not in config and "batchEvents" not in config  # empty = not declared


def test_a_resync_reports_changes_field_by_field_and_bumps_versions(client, world):
    auth = bearer(world.prod_a)
    hello, retired = function("py", "hello"), function("py", "retired")
    post(client, python_body("py", [hello, retired]), auth)
    again = post(client, python_body("py", [hello, retired]), auth).json()
    assert again["modified"] is False
    changed = function("py", "hello", retries=1, triggers=[{"event": "test/hi"}])
    assert post(client, python_body("py", [changed]), auth).json()["modified"] is True
    sync = AppSync.objects.order_by("-started_at").first()
    assert sync.diff["removed"] == ["py-retired"] and sync.diff["added"] == []
    [change] = sync.diff["changed"]
    assert change["function"] == "py-hello"
    assert change["fields"] == [
        {"field": "triggers", "before": [{"event": "test/hello"}], "after": [{"event": "test/hi"}]},
        {"field": "retries", "before": None, "after": 1},
    ]
    hello_row = Function.objects.get(slug="py-hello")
    assert hello_row.version == 2
    retired_row = Function.objects.get(slug="py-retired")
    assert retired_row.removed_at is not None and not retired_row.triggers.exists()
    assert event_triggers_for(environment=world.prod_a, event_name="test/hello") == []
    # A function that comes back is live again, with its old row (runs point at it).
    post(client, python_body("py", [changed, retired]), auth)
    retired_row.refresh_from_db()
    assert retired_row.removed_at is None and retired_row.version == 1
    assert retired_row.triggers.count() == 1


def test_the_failure_handler_is_registered_like_any_function(client, world):
    handler = function(
        "ts",
        "flow-failure",
        triggers=[
            {
                "event": "inngest/function.failed",
                "expression": "event.data.function_id == 'ts-flow'",
            }
        ],
        retries=1,
    )
    post(client, ts_body("ts", [function("ts", "flow"), handler]), bearer(world.prod_a))
    [trigger] = event_triggers_for(environment=world.prod_a, event_name="inngest/function.failed")
    assert trigger.function.slug == "ts-flow-failure"
    assert trigger.expression == "event.data.function_id == 'ts-flow'"


def test_archived_apps_functions_stop_matching_events(client, world):
    post(client, python_body("py", [function("py", "hello")]), bearer(world.prod_a))
    app = App.objects.get()
    app_set_archived(app=app, actor=world.owner, archived=True)
    assert event_triggers_for(environment=world.prod_a, event_name="test/hello") == []
    assert not Function.objects.get().is_active
    app_set_archived(app=app, actor=world.owner, archived=False)
    assert len(event_triggers_for(environment=world.prod_a, event_name="test/hello")) == 1
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"app.archived", "app.unarchived"} <= actions


# --- Authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer undefined", "Bearer", "Bearer "])
def test_unsigned_registrations_land_in_the_dev_mode_environment(client, world, authorization):
    body = ts_body("local", [function("local", "hello")])
    refused = post(client, body, authorization)
    assert refused.status_code == 401
    assert refused.json()["status"] == 401 and "INNGEST_DEV=1" in refused.json()["error"]
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    assert post(client, body, authorization).status_code == 200
    assert live_slugs(world.dev_a) == {"local-hello"}


def test_an_unknown_signing_key_is_refused_even_with_a_dev_mode_environment(client, world):
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    body = python_body("py", [function("py", "hello")])
    for authorization in ("Bearer " + "ab" * 32, "Basic abc", "Bearer signkey-prod-zz"):
        response = post(client, body, authorization)
        assert response.status_code == 401, authorization
        assert response.json()["error"].startswith("Unknown signing key")
    assert not App.objects.exists() and not AppSync.objects.exists()


def test_each_tenants_key_registers_into_its_own_environment_only(client, world):
    post(client, python_body("py", [function("py", "hello")]), bearer(world.prod_b))
    assert App.objects.get().environment == world.prod_b
    assert live_slugs(world.prod_a) == set()
    # The same app id in another environment is another app.
    post(client, python_body("py", [function("py", "hello")]), bearer(world.prod_a))
    assert App.objects.count() == 2 and live_slugs(world.prod_a) == {"py-hello"}


# --- Refusals: a clear 4xx, and nothing changed ----------------------------------------------


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"text"'])
def test_it_refuses_malformed_bodies(client, world, content):
    response = post(client, content, bearer(world.prod_a))
    assert response.status_code == 400 and response.json()["status"] == 400
    assert not AppSync.objects.exists()


def test_it_only_accepts_post(client, world):
    assert client.get("/fn/register").status_code == 405


INVALID = [
    (
        {"triggers": [{"cron": "61 * * * *"}]},
        "Function py-hello: trigger 1 cron '61 * * * *': the minute field '61' is not valid",
    ),
    ({"triggers": [{"cron": "TZ=Mars/Olympus 0 3 * * *"}]}, "unknown time zone Mars/Olympus"),
    ({"triggers": [{"cron": "0 3 * *"}]}, "a cron has five fields"),
    (
        {"triggers": [{"event": "test/hello", "expression": "event.data.ok =="}]},
        "Function py-hello: trigger 1 expression 'event.data.ok ==' is not a valid expression",
    ),
    (
        {"triggers": [{"event": "test/hello", "expression": "async.data.ok"}]},
        "Unknown variable async",
    ),
    (
        {"triggers": [{"webhook": "w-1"}]},
        "Function py-hello: trigger 1 is of an unknown kind (it declares webhook",
    ),
    ({"triggers": [{"event": ""}]}, "trigger 1 has an empty event name"),
    (
        {"triggers": [{"event": "test/hello"}, {"event": "app/*/created"}]},
        "Function py-hello: trigger 2 event 'app/*/created' is not a valid wildcard",
    ),
    ({"triggers": [{"event": "app*"}]}, "trigger 1 event 'app*' is not a valid wildcard"),
    (
        {"cancel": [{"event": "test/cancel", "if": "event.data.a == "}]},
        "Function py-hello: cancel 1 if 'event.data.a == ' is not a valid expression",
    ),
    (
        {"concurrency": [{"limit": 1, "key": "user.id"}]},
        "Function py-hello: concurrency 1 key 'user.id' is not a valid expression",
    ),
    ({"rateLimit": {"limit": 1, "period": "soon"}}, "rateLimit.period 'soon' is not a duration"),
    ({"priority": {"run": "event.data.prio +"}}, "priority.run"),
    ({"steps": {}}, "Function py-hello: steps.step is missing"),
]


@pytest.mark.parametrize(("override", "message"), INVALID)
def test_an_invalid_config_fails_the_sync_and_keeps_the_function_set(
    client, world, override, message
):
    auth = bearer(world.prod_a)
    post(client, python_body("py", [function("py", "hello"), function("py", "other")]), auth)
    before = list(Function.objects.values_list("slug", "config", "version", "removed_at"))
    triggers_before = FunctionTrigger.objects.count()
    bad = {**function("py", "hello"), **override}
    response = post(client, python_body("py", [bad]), auth)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and message in body["error"], body["error"]
    assert list(Function.objects.values_list("slug", "config", "version", "removed_at")) == before
    assert FunctionTrigger.objects.count() == triggers_before
    failed = AppSync.objects.get(status="failed")
    assert failed.app == App.objects.get() and message in failed.error
    assert failed.public_id == body["sync_id"]
    assert AuditEntry.objects.filter(action="app.synced").count() == 1


def test_an_archived_environment_takes_no_registrations(client, world):
    custom = environment_create(
        organization=world.org_a, actor=world.owner, name="Staging", kind="custom"
    )
    environment_set_archived(environment=custom, actor=world.owner, archived=True)
    response = post(client, python_body("py", [function("py", "hello")]), bearer(custom))
    assert response.status_code == 400
    assert response.json()["error"] == "Staging is archived: unarchive it to sync apps."
    assert not Function.objects.exists() and AppSync.objects.get().status == "failed"


def test_it_lists_every_problem_at_once(client, world):
    bad = [
        function("py", "a", triggers=[{"cron": "nope"}]),
        function("py", "b", triggers=[{"event": "x", "expression": "("}]),
    ]
    error = post(client, python_body("py", bad), bearer(world.prod_a)).json()["error"]
    assert (
        "Function py-a: trigger 1 cron" in error and "Function py-b: trigger 1 expression" in error
    )


def test_it_refuses_a_function_id_another_app_declares(client, world):
    auth = bearer(world.prod_a)
    post(client, python_body("a", [function("a", "b-c")]), auth)
    response = post(client, python_body("a-b", [function("a-b", "c")]), auth)
    assert response.status_code == 400
    assert "already declares a-b-c (app a)" in response.json()["error"]
    assert Function.objects.get().app.app_id == "a"


def test_a_registration_without_app_or_url_is_refused(client, world):
    body = python_body("", [])
    body["url"] = "ftp://x"
    response = post(client, body, bearer(world.prod_a))
    assert response.status_code == 400
    assert (
        "names no app" in response.json()["error"] and "no http(s) url" in response.json()["error"]
    )
    assert not App.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, 400, "nests too deeply"),
        (b"{not json", 400, "not valid JSON"),
        (b"[1]", 400, "must be a JSON object"),
        (b'{"url": "' + b"x" * (3 * 1024 * 1024) + b'"}', 413, "too large"),
    ],
)
def test_a_bad_registration_body_is_a_json_4xx_and_stores_nothing(
    client, world, body, status, message
):
    response = post(client, body, bearer(world.prod_a))
    assert response.status_code == status and message in response.json()["error"]
    assert not world.prod_a.apps.exists()
