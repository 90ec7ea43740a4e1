"""A broker that refuses messages (EXECUTOR_BACKEND=celery, nothing listening at its address).

What a request committed is stored whatever the broker says: the answer is the request's own
(200 with the ids, 201 with the run), and the sweeper sends the jobs later. A request that did
not commit still fails and leaves nothing behind.
"""

import json

import pytest
from django.db import connection
from django.test import Client

from controlplane.engine.invoke import function_invoke
from controlplane.events.models import Event
from controlplane.keys.models import ApiAccess
from controlplane.keys.services import api_key_create, event_key_create
from controlplane.registry.services import app_register
from controlplane.runs.models import Job, Run, RunStatus
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db(transaction=True)  # the requests' own commits run the hooks


@pytest.fixture
def functions(world):
    """`app-f` runs on test/f; `app-cleanup` runs when a run is cancelled."""
    cancelled = [{"event": "inngest/function.cancelled"}]
    body = python_body(
        "app", [function("app", "f"), function("app", "cleanup", triggers=cancelled)]
    )
    sync = app_register(environment=world.prod_a, payload=body, kind="out_of_band")
    assert sync.status == "success", sync.error
    return sync.app.functions


@pytest.fixture
def run(functions):
    """A queued run, made before the broker goes away."""
    return function_invoke(function=functions.get(slug="app-f"), data={})


@pytest.fixture
def api_key(world) -> str:
    _key, secret = api_key_create(
        environment=world.prod_a, actor=world.owner, name="ci", access=ApiAccess.READ_WRITE
    )
    return secret


def not_published(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "controlplane.engine.backends"]


def test_the_event_api_answers_the_ids_of_events_it_committed(
    world, functions, refusing_broker, caplog
):
    _key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    body = json.dumps([{"name": "test/f", "data": {"n": n}} for n in range(3)])
    response = Client().post(f"/e/{secret}", body, content_type="application/json")
    assert response.status_code == 200, response.content
    ids = response.json()["ids"]
    assert len(ids) == 3 and response.json()["status"] == 200
    assert sorted(Event.objects.values_list("public_id", flat=True)) == sorted(ids)
    # The runs wait for the sweeper: their first calls are stored, due now.
    assert Run.objects.filter(status=RunStatus.QUEUED).count() == 3
    assert Job.objects.filter(run__events__public_id__in=ids).count() == 3
    [line] = not_published(caplog)  # once for the request, not once per job
    assert line.startswith("3 committed job(s) not published") and "sweeper" in line


@pytest.mark.parametrize("action", ["invoke", "replay", "cancel"])
def test_rest_api_actions_answer_as_committed(
    world, functions, run, refusing_broker, api_key, action
):
    fn = functions.get(slug="app-f")
    if action == "replay":
        Run.objects.filter(pk=run.pk).update(status=RunStatus.FAILED)
    runs_before = Run.objects.count()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {api_key}"}
    client = Client()
    if action == "invoke":
        response = client.post(
            f"/v1/functions/{fn.slug}/invoke", "{}", content_type="application/json", **auth
        )
    elif action == "replay":
        response = client.post(f"/v1/runs/{run.public_id}/replay", **auth)
    else:
        response = client.delete(f"/v1/runs/{run.public_id}", **auth)
    assert response.status_code in (200, 201), response.content
    assert Run.objects.count() == runs_before + 1  # the new run, or the cleanup run
    assert Job.objects.exclude(run=run).count() == 1


def test_a_dashboard_action_answers_as_committed(world, run, refusing_broker, signed_in):
    client = signed_in(world.owner)
    response = client.post(f"/org-a/production/runs/{run.public_id}/cancel/")
    assert response.status_code in (200, 302), response.content
    assert Run.objects.get(pk=run.pk).status == RunStatus.CANCELLED
    assert Run.objects.filter(function__slug="app-cleanup").count() == 1


@pytest.fixture
def jobs_refused():
    """The database refuses new jobs: a request that starts a run fails inside its
    transaction, after its events were written."""
    table = connection.ops.quote_name(Job._meta.db_table)
    if connection.vendor == "sqlite":
        create = [
            f"CREATE TRIGGER refuse_jobs BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'jobs refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_jobs"]
    else:
        create = [
            "CREATE FUNCTION refuse_jobs() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'jobs refused'; END $$",
            f"CREATE TRIGGER refuse_jobs BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_jobs()",
        ]
        drop = [f"DROP TRIGGER refuse_jobs ON {table}", "DROP FUNCTION refuse_jobs()"]
    with connection.cursor() as cursor:
        for statement in create:
            cursor.execute(statement)
    yield
    with connection.cursor() as cursor:
        for statement in drop:
            cursor.execute(statement)


def test_a_request_that_did_not_commit_fails_and_stores_nothing(
    world, functions, refusing_broker, jobs_refused, caplog
):
    _key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    client = Client(raise_request_exception=False)
    response = client.post(f"/e/{secret}", {"name": "test/f"}, content_type="application/json")
    assert response.status_code == 500
    assert not Event.objects.exists() and not Run.objects.exists()
    assert not not_published(caplog)  # nothing committed, so nothing was sent
