"""Stop every process of the engine (kill -9 both servers, both workers and beat) for longer than
the runs' sleeps, then start them all again: each sleep wakes exactly once, after the restart.

The stop spans a minute boundary, so beat is down when a cron minute begins: test_cron holds
the engine to firing that minute once all the same."""

import time

from tests.chaos.processes import seconds_into_minute, wait_until
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once

RUNS, SLEEP = 20, 5
# Killed between :50 and :56 or so, down until the next minute has begun (and every wake time
# has passed).
STOP_FROM, STOP_TO = 48, 54


def test_a_full_stop_longer_than_a_sleep_wakes_each_sleep_once(shape, figures):
    _wait_for_second(STOP_FROM, STOP_TO)
    senders = Senders(
        [shape.servers[0].url],
        shape.production.event_key,
        "full-stop",
        name="chaos/nap",
        data={"seconds": SLEEP},
        batch=RUNS,
        threads=1,
        count=RUNS,
    )
    senders.start().join()
    check_accepted_stored_once(shape, senders)
    wait_until(lambda: _sleeping(shape) == RUNS, timeout=30, what="every run to sleep")
    for process in shape.engine_processes:
        process.kill()
    stopped_at = time.time()
    time.sleep(max(SLEEP + 1, 61 - seconds_into_minute()))
    assert _sleeping(shape) == RUNS  # nothing ran them meanwhile
    restarted_at = time.time()
    shape.start_all(shape.engine_processes)
    finished_at = wait_for_runs(shape, "full-stop", count=RUNS, timeout=60)

    runs = runs_of(shape, "full-stop")
    sleeps = shape.rows(
        "SELECT count(*) FROM runs_runhistory h JOIN runs_run r ON r.id = h.run_id "
        "JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = 'full-stop' AND h.kind = 'sleeping' GROUP BY h.run_id"
    )
    figures.events_accepted = figures.events_stored = RUNS
    figures.recovery_seconds = finished_at - restarted_at
    figures.notes = f"stopped {restarted_at - stopped_at:.0f} s across a minute boundary"
    figures.record(**runs.figures())
    assert runs.statuses == {"completed": RUNS}
    assert sleeps == [(1,)] * RUNS  # each run slept once
    # The sleep's result stored once, the steps around it run once each.
    assert len(runs.stored) == RUNS * 3 and runs.stored_max == 1
    assert set(runs.executions.values()) == {1} and len(runs.executions) == RUNS * 2


def _wait_for_second(first: int, last: int) -> None:
    """Until the clock is between `first` and `last` seconds into a minute."""
    now = seconds_into_minute()
    if not first <= now <= last:
        time.sleep((first - now) % 60)


def _sleeping(shape) -> int:
    return shape.scalar(
        "SELECT count(*) FROM runs_run r JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = 'full-stop' AND r.status = 'sleeping'"
    )
