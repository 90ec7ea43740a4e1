"""kill -9 a Celery worker while about 100 runs are mid-flight, then start it again: every run
completes, no step has two stored results, and the jobs the dead worker held are done again
within the lease time (plus a margin)."""

import time

from tests.chaos.processes import wait_until
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once
from tests.chaos.shape import ENGINE_ENV

# Steps longer than half of ENGINE_KEEP_SECONDS (1 s): a worker keeps a run for two steps, then
# its third queues behind every other run's first, so all runs are mid-flight at once.
RUNS, STEPS, HOLD = 100, 3, 0.5
LEASE = int(ENGINE_ENV["JOB_LEASE_SECONDS"])
# Room for the sweep, the claim and the held call itself on a loaded machine; a job left to
# the broker's visibility timeout (an hour) or lost for good would be far beyond it.
MARGIN = 20


def test_a_worker_killed_mid_flight_loses_only_its_leases(shape, figures):
    shape.fault("worker kill")
    senders = Senders(
        [server.url for server in shape.servers],
        shape.production.event_key,
        "worker-kill",
        name="chaos/steps",
        data={"steps": STEPS, "hold": HOLD},
        batch=10,
        threads=2,
        count=RUNS,
    )
    senders.start().join()
    assert senders.statuses() == {200: RUNS // 10}
    check_accepted_stored_once(shape, senders)
    wait_until(lambda: _mid_flight(shape) >= RUNS * 0.9, timeout=60, what="runs to be in flight")

    victim = shape.workers[0]
    held = _jobs_held_by(shape, victim.pid)
    in_flight = _mid_flight(shape)
    victim.kill()
    killed_at = time.time()
    victim.start()
    assert held, "the killed worker held no job: nothing was in flight"
    wait_until(
        lambda: not shape.rows("SELECT id FROM runs_job WHERE id = ANY(%s)", held),
        timeout=LEASE + MARGIN,
        what="the killed worker's jobs to be done by another",
    )
    recovered_at = time.time()
    wait_for_runs(shape, "worker-kill", count=RUNS, timeout=120)

    runs = runs_of(shape, "worker-kill")
    figures.events_accepted = len(senders.accepted()) * 10
    figures.events_stored = RUNS
    figures.recovery_seconds = recovered_at - killed_at
    figures.notes = f"killed with {in_flight} runs mid-flight, {len(held)} jobs leased to it"
    figures.record(**runs.figures())
    assert runs.statuses == {"completed": RUNS}
    assert len(runs.stored) == RUNS * STEPS and runs.stored_max == 1
    # Every step ran at least once; those the kill interrupted ran again.
    assert set(runs.executions) == set(runs.stored)


def _mid_flight(shape) -> int:
    """Runs of the scenario that have started and not finished."""
    return shape.scalar(
        "SELECT count(*) FROM runs_run r JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = 'worker-kill' AND r.started_at IS NOT NULL "
        "AND r.ended_at IS NULL"
    )


def _jobs_held_by(shape, pid: int) -> list[int]:
    """The jobs leased to the worker process `pid` (lease owners are celery:<host>:<pid>:...)."""
    rows = shape.rows(
        "SELECT id FROM runs_job "
        "WHERE lease_until > now() AND split_part(lease_owner, ':', 3) = %s",
        str(pid),
    )
    return [job_id for (job_id,) in rows]
