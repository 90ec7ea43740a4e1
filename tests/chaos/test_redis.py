"""Restart Redis, the broker, with nothing persisted: every queued message is lost. The database
still has every job, so the sweepers re-publish them: stuck runs resume within
JOB_REPUBLISH_SECONDS (plus a margin) and nothing is lost."""

import time

from tests.chaos.processes import wait_until
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once
from tests.chaos.shape import ENGINE_ENV

REPUBLISH = int(ENGINE_ENV["JOB_REPUBLISH_SECONDS"])
MARGIN = 20  # the re-published runs' own remaining work, on a loaded machine
RUNS, STEPS, HOLD = 40, 3, 0.5
DOWN_SECONDS = 3  # a restart's downtime: calls in flight end meanwhile


def test_a_broker_restart_mid_flight_loses_no_run(shape, figures):
    shape.fault("redis restart")
    workers = {worker.name: (worker.pid, worker.starts) for worker in shape.workers}
    senders = Senders(
        [server.url for server in shape.servers],
        shape.production.event_key,
        "redis-restart",
        name="chaos/steps",
        data={"steps": STEPS, "hold": HOLD},
        batch=10,
        threads=2,
        count=RUNS,
    )
    senders.start().join()
    check_accepted_stored_once(shape, senders)
    wait_until(
        lambda: shape.scalar("SELECT count(*) FROM runs_job WHERE lease_until > now()") >= 8,
        timeout=60,
        what="calls in flight",
    )
    shape.redis.kill()
    time.sleep(DOWN_SECONDS)
    shape.redis.start()
    back_at = time.time()
    # Until the runs finish, or a worker dies (which would leave them waiting forever).
    wait_until(
        lambda: _dead(shape) or not runs_of(shape, "redis-restart").unfinished,
        timeout=REPUBLISH + MARGIN,
        every=0.5,
        what="the runs to resume",
    )
    resumed_at = time.time()
    runs = runs_of(shape, "redis-restart")
    figures.events_accepted, figures.events_stored = len(senders.accepted()) * 10, RUNS
    figures.record(**runs.figures())
    figures.notes = f"workers dead after the restart: {', '.join(_dead(shape)) or 'none'}"
    assert not _dead(shape), "workers died of the broker's restart"
    assert {worker.name: (worker.pid, worker.starts) for worker in shape.workers} == workers
    figures.recovery_seconds = resumed_at - back_at
    assert runs.statuses == {"completed": RUNS} and runs.stored_max == 1


def _dead(shape) -> list[str]:
    return [worker.name for worker in shape.workers if not worker.running]


def test_events_sent_while_the_broker_is_down_are_refused_or_stored(shape, figures):
    """An answer says what happened: a 2xx event is stored once; a refused one is not stored
    (once committed, the answer is 200 and the sweeper publishes later)."""
    shape.fault("redis down")
    senders = Senders(
        [server.url for server in shape.servers],
        shape.production.event_key,
        "redis-down",
        name="chaos/steps",
        data={"steps": 1},
        threads=4,
        pause=0.1,
    ).start()
    wait_until(lambda: len(senders.accepted()) >= 20, timeout=60, what="events to flow")
    shape.redis.kill()
    time.sleep(DOWN_SECONDS)
    shape.redis.start()
    time.sleep(2)
    senders.stop()
    shape.heal()  # workers that died of the restart are the other test's (and defect's) concern

    stored = check_accepted_stored_once(shape, senders)
    refused = [a for a in senders.answers if a.status is None or a.status >= 300]
    refused_stored = [a for a in refused if any(seq in stored for seq in a.seqs)]
    wait_for_runs(shape, "redis-down", count=len(stored), timeout=REPUBLISH + MARGIN)
    runs = runs_of(shape, "redis-down")
    figures.events_accepted, figures.events_stored = len(senders.accepted()), len(stored)
    figures.notes = (
        f"answers {dict(senders.statuses())}; {len(refused_stored)} refused events stored"
    )
    figures.record(**runs.figures())
    assert runs.statuses == {"completed": len(stored)} and runs.stored_max == 1
    assert not refused_stored
