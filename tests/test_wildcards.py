"""Wildcard event triggers (`app/*`, `app/user.*`): the matching rule, the trigger index, the
runs events start, and how the dashboard shows them."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.engine.settle import events_accept
from controlplane.registry.models import FunctionTrigger
from controlplane.registry.selectors import event_triggers_for
from controlplane.registry.services import app_register
from controlplane.registry.wildcards import (
    trigger_pattern_errors,
    trigger_patterns,
    wildcard_prefix,
)
from controlplane.runs.models import Run
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db

RUNS = "/org-a/production/runs/"


def test_an_event_name_expands_to_itself_and_a_wildcard_per_delimiter():
    assert trigger_patterns("app/user.created") == ["app/user.created", "app/*", "app/user.*"]
    assert trigger_patterns("api/v1/users") == ["api/v1/users", "api/*", "api/v1/*"]
    assert trigger_patterns("user.updated") == ["user.updated", "user.*"]
    assert trigger_patterns("simple") == ["simple"]
    assert trigger_patterns("app/*") == ["app/*"]


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [("app/*", "app/"), ("app/user.*", "app/user."), ("a/b/*", "a/b/"), ("app/x", "")],
)
def test_a_wildcard_matches_the_names_that_start_with_its_prefix(pattern, prefix):
    assert wildcard_prefix(pattern) == prefix
    assert trigger_pattern_errors(pattern) == []


@pytest.mark.parametrize("pattern", ["*", "app*", "app/*/created", "app/**", "app/*.*", "*/x"])
def test_a_star_anywhere_else_is_refused_by_name(pattern):
    [error] = trigger_pattern_errors(pattern)
    assert error.startswith(f"event {pattern!r} is not a valid wildcard")
    assert wildcard_prefix(pattern) == ""


@pytest.fixture
def fns(world):
    app = app_register(
        environment=world.prod_a,
        payload=python_body(
            "app",
            [
                function("app", "all", triggers=[{"event": "wild/*"}]),
                function("app", "users", triggers=[{"event": "wild/user.*"}]),
                function(
                    "app",
                    "pro",
                    triggers=[{"event": "wild/*", "expression": "event.data.plan == 'pro'"}],
                ),
                function("app", "both", triggers=[{"event": "wild/*"}, {"event": "wild/a"}]),
            ],
        ),
        kind="out_of_band",
    ).app
    return {f.slug: f for f in app.functions.all()}


def triggered(world, name: str) -> set[str]:
    return {t.function.slug for t in event_triggers_for(environment=world.prod_a, event_name=name)}


def started(world, name: str, data=None) -> list[str]:
    [accepted] = events_accept(
        environment=world.prod_a, payloads=[{"name": name, "data": data or {}}], source="api"
    )
    return sorted(
        Run.objects.filter(events=accepted.event).values_list("function__slug", flat=True)
    )


WILD = {"app-all", "app-pro", "app-both"}  # the functions triggered by wild/*


@pytest.mark.parametrize(
    ("name", "slugs"),
    [
        ("wild/anything", WILD),
        ("wild/a/b", WILD),
        ("wild/", WILD),
        ("wild/user.created", WILD | {"app-users"}),
        ("wild/user.a/b", WILD | {"app-users"}),
        ("wild/users.x", WILD),
        ("wild/user", WILD),
        ("other/x", set()),
        ("wildx/y", set()),
        ("wild", set()),
        ("wild.x", set()),
        ("x/wild/y", set()),
    ],
)
def test_the_trigger_index_finds_wildcards_by_prefix_only(world, fns, name, slugs):
    assert triggered(world, name) == slugs


def test_events_start_one_run_per_function_a_wildcard_matches(world, fns):
    assert started(world, "wild/a") == ["app-all", "app-both"]  # two triggers, one run
    assert started(world, "wild/user.created", {"plan": "pro"}) == [
        "app-all",
        "app-both",
        "app-pro",
        "app-users",
    ]
    assert started(world, "other/x") == started(world, "wildx/y") == []


def test_a_batch_of_events_matches_each_by_its_own_name(world, fns):
    payloads = [{"name": "wild/a"}, {"name": "wildx/y"}, {"name": "wild/user.x"}]
    accepted = events_accept(environment=world.prod_a, payloads=payloads, source="api")
    runs = [
        set(Run.objects.filter(events=a.event).values_list("function__slug", flat=True))
        for a in accepted
    ]
    assert runs == [{"app-all", "app-both"}, set(), {"app-all", "app-both", "app-users"}]


def test_matching_searches_the_trigger_index_rather_than_scanning_triggers(world, fns):
    # An environment of many triggers, as the index is for: with a handful, PostgreSQL may
    # rightly prefer reading them all through the environment's own index.
    FunctionTrigger.objects.bulk_create(
        FunctionTrigger(environment=world.prod_a, function=fns["app-all"], event_name=f"noise/{n}")
        for n in range(2000)
    )
    with CaptureQueriesContext(connection) as queries:
        started(world, "wild/user.created")
    [lookup] = [q["sql"] for q in queries if q["sql"].startswith("SELECT 'trigger'")]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {FunctionTrigger._meta.db_table}")
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {'QUERY PLAN ' if connection.vendor == 'sqlite' else ''}{lookup}")
        plan = str(cursor.fetchall())
    assert "trigger_env_event" in plan, plan


def test_wildcards_of_another_environment_do_not_match(world, fns):
    [accepted] = events_accept(
        environment=world.dev_a, payloads=[{"name": "wild/a", "data": {}}], source="api"
    )
    assert not Run.objects.filter(events=accepted.event).exists()


def test_the_function_page_explains_the_wildcard_and_lists_its_runs(client, world, signed_in, fns):
    started(world, "wild/one")
    started(world, "wild/two.x")
    started(world, "other/x")
    fn = fns["app-all"]
    signed_in(world.viewer)
    html = client.get(f"/org-a/production/functions/{fn.public_id}/").content.decode()
    assert "<code>wild/*</code>" in html
    assert "every event whose name starts with <code>wild/</code>" in html
    runs = client.get(f"{RUNS}?function={fn.public_id}").context["page"].runs
    assert sorted(run.event.name for run in runs) == ["wild/one", "wild/two.x"]


def test_a_test_event_sent_from_the_dashboard_starts_the_wildcard_function(
    client, world, signed_in, fns
):
    signed_in(world.member)
    body = json.dumps({"name": "wild/from-the-dashboard"})
    html = client.post("/org-a/production/events/send/", {"payload": body}).content.decode()
    assert "Sent 1 event" in html
    run = Run.objects.get(function=fns["app-all"])
    assert run.event.name == "wild/from-the-dashboard"
