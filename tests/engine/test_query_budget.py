"""What one engine step costs in SQL: the queries of claiming a job and of executing it (one SDK
call, its outcome stored, the next job queued), against a real Python SDK app; and how a worker
keeps a run's next call instead of queueing it.

No backend runs here: the test claims and executes each job itself, like a worker, so every
query of a call is counted and nothing else runs meanwhile. The budgets pin today's figures;
raise one only with a reason.
"""

import os
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.engine import worker
from controlplane.engine.execute import execute_job
from controlplane.engine.jobs import jobs_claim_due
from controlplane.engine.settle import events_accept
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Job, Run, RunStatus
from tests.engine.harness import use_event_key, use_signing_key
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)
OWNER = "query-budget"

# Statements (BEGIN, COMMIT and savepoints included) per claim of one job and per executed call
# job, on PostgreSQL (SQLite's claim takes no advisory lock: one fewer). When this test was
# written: a claim 6; the 3-step chain 17/15/15/19 per call; the 4-step parallel group 41 (the
# discovery planning 4 steps), 14/14/14/15 (targeted calls), 19 (the call that returns).
CLAIM_BUDGET = 6
STEP_CALL_BUDGET = 14  # a call that runs one step (the first also marks the run started)
RETURN_CALL_BUDGET = 17  # the call that returns: run completed, its finished event emitted
PLAN_CALL_BUDGET = 20  # a discovery planning four parallel steps
TARGETED_CALL_BUDGET = 13  # a call running one planned step
KEPT_CALL_BUDGET = 12  # a call the worker kept: the run is not read before it


@pytest.fixture(scope="module")
def py_app(app_env):
    app = python_app({**app_env, "APP_ID": "py-budget"}, script="engine_app.py").start()
    yield app
    app.stop()


@pytest.fixture
def env(world, py_app):
    use_signing_key(world.prod_a)
    use_event_key(world.prod_a)
    sync = app_sync_from_url(environment=world.prod_a, url=py_app.url, actor=world.owner)
    assert sync.status == "success", sync.error
    return world.prod_a


def _drive(run: Run) -> tuple[list[int], list[int]]:
    """Claim and execute the run's jobs one by one until it finishes: queries per claim and per
    execution."""
    claims, calls = [], []
    for _ in range(20):
        with CaptureQueriesContext(connection) as claimed:
            jobs = jobs_claim_due(owner=OWNER, limit=1)
        assert len(jobs) == 1, "a job should be due until the run finishes"
        claims.append(len(claimed))
        with CaptureQueriesContext(connection) as executed:
            execute_job(jobs[0], owner=OWNER)
        calls.append(len(executed))
        if os.environ.get("DUMP_QUERIES"):
            print("\n--- claim")
            [print(q["sql"][:300]) for q in claimed.captured_queries]
            print("--- call")
            [print(q["sql"][:300]) for q in executed.captured_queries]
        run.refresh_from_db()
        if run.is_finished:
            return claims, calls
    raise AssertionError(f"the run did not finish: {run.status}")


def _start(environment, name: str, data: dict) -> Run:
    [ingested] = events_accept(
        environment=environment, payloads=[{"name": name, "data": data}], source="api"
    )
    return Run.objects.get(events=ingested.event)


def test_it_keeps_a_three_step_run_within_its_query_budget(env):
    run = _start(env, "engine/chain", {"n": 1})
    claims, calls = _drive(run)
    print(f"\nchain: claims {claims} calls {calls}")
    assert run.status == RunStatus.COMPLETED
    assert run.output["sum"] == 6
    assert len(calls) == 4  # three steps run one per call, then the call that returns
    assert max(claims) <= CLAIM_BUDGET, claims
    assert max(calls[:3]) <= STEP_CALL_BUDGET, calls
    assert calls[3] <= RETURN_CALL_BUDGET, calls


def test_it_keeps_a_parallel_group_within_its_query_budget(env):
    run = _start(env, "engine/fanout", {})
    claims, calls = _drive(run)
    print(f"\nfanout: claims {claims} calls {calls}")
    assert run.status == RunStatus.COMPLETED
    assert run.output == [0, 1, 4, 9]
    assert len(calls) == 6  # the plan, four steps, the call that returns
    assert max(claims) <= CLAIM_BUDGET, claims
    assert calls[0] <= PLAN_CALL_BUDGET, calls
    assert max(calls[1:5]) <= TARGETED_CALL_BUDGET, calls
    assert calls[5] <= RETURN_CALL_BUDGET, calls


def test_it_keeps_a_runs_next_calls_without_claims_or_rereads(env):
    run = _start(env, "engine/chain", {"n": 1})
    [job] = jobs_claim_due(owner=OWNER, limit=1)
    kept, calls = execute_job(job, owner=OWNER, keep=True), []
    while kept is not None:
        assert kept.job.lease_owner == OWNER and kept.job.lease_until is not None
        assert jobs_claim_due(owner="another-worker", limit=5) == []  # leased to its keeper
        with CaptureQueriesContext(connection) as executed:
            kept = execute_job(kept.job, owner=OWNER, kept_run=kept.run, keep=True)
        calls.append(len(executed))
    run.refresh_from_db()
    print(f"\nkept chain: calls {calls}")
    assert run.status == RunStatus.COMPLETED and run.output["sum"] == 6
    assert len(calls) == 3  # steps b and c, then the call that returns: no claim in between
    assert max(calls[:2]) <= KEPT_CALL_BUDGET, calls


def test_it_hands_a_kept_call_to_another_worker_once_its_keeper_is_gone(env):
    """The keeper dies between storing a step and calling again: the kept job's lease runs
    out and a claim takes it like any other job."""
    run = _start(env, "engine/chain", {"n": 1})
    [job] = jobs_claim_due(owner=OWNER, limit=1)
    kept = execute_job(job, owner=OWNER, keep=True)
    assert kept is not None
    time.sleep(3.5)  # JOB_LEASE_SECONDS in engine tests: 3
    _claims, calls = _drive(run)
    assert run.status == RunStatus.COMPLETED and run.output["sum"] == 6
    assert len(calls) == 3


def test_it_queues_calls_that_take_a_concurrency_slot(env):
    """Slots are handed out by claims only, in queue order: such calls are never kept."""
    run = _start(env, "engine/slow-one", {})
    [job] = jobs_claim_due(owner=OWNER, limit=1)
    assert execute_job(job, owner=OWNER, keep=True) is None
    [queued] = Job.objects.filter(run=run)
    assert queued.lease_until is None


@pytest.mark.parametrize("keep_seconds, claims", [(0, 4), (60, 1)])
def test_it_keeps_a_run_for_at_most_engine_keep_seconds(env, settings, keep_seconds, claims):
    settings.ENGINE_KEEP_SECONDS = keep_seconds
    run = _start(env, "engine/chain", {"n": 1})
    claimed = 0
    while not run.is_finished and claimed < 10:
        [job] = jobs_claim_due(owner=OWNER, limit=1)
        worker.run_claimed(job, owner=OWNER)
        claimed += 1
        run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert claimed == claims  # four calls: each claimed, or the first claimed and three kept
