"""Restart PostgreSQL (immediate: as if it crashed) while events flow and runs execute: senders
see 5xx while it is down, never a 2xx for an event that was not stored, and the servers and
workers recover without being restarted."""

import time

from tests.chaos.processes import wait_until
from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once

DOWN_SECONDS = 3


def test_a_postgres_restart_refuses_or_stores_and_everything_recovers(shape, figures):
    processes = [*shape.servers, *shape.workers]
    starts = {process.name: process.starts for process in processes}
    shape.fault("postgres restart")
    senders = Senders(
        [server.url for server in shape.servers],
        shape.production.event_key,
        "postgres-restart",
        name="chaos/steps",
        data={"steps": 2, "hold": 0.1},
        threads=4,
        pause=0.1,
    ).start()
    wait_until(lambda: len(senders.accepted()) >= 40, timeout=60, what="events to flow")
    shape.postgres.stop("immediate")
    down_at = time.time()
    time.sleep(DOWN_SECONDS)
    shape.postgres.start()
    up_at = time.time()
    back = wait_until(
        lambda: _all_serving_since(senders, shape.servers, up_at), timeout=60, what="2xx again"
    )
    time.sleep(1)
    senders.stop()

    assert shape.scalar("SELECT extract(epoch FROM pg_postmaster_start_time())") > down_at
    refused = [a for a in senders.answers if a.status is None or a.status >= 300]
    assert all(a.status is not None and a.status >= 500 for a in refused), senders.statuses()
    stored = check_accepted_stored_once(shape, senders)
    wait_for_runs(shape, "postgres-restart", count=len(stored), timeout=120)
    for process in processes:
        process.wait_ready(timeout=30)
    assert {process.name: process.starts for process in processes} == starts  # none restarted

    runs = runs_of(shape, "postgres-restart")
    figures.events_accepted = len(senders.accepted())
    figures.events_stored = len(stored)
    figures.recovery_seconds = back - up_at
    figures.notes = (
        f"down {up_at - down_at:.1f} s; answers {dict(senders.statuses())}; "
        f"{sum(a.seqs[0] in stored for a in refused)} refused events stored"
    )
    figures.record(**runs.figures())
    assert runs.statuses == {"completed": len(stored)} and runs.stored_max == 1


def _all_serving_since(senders: Senders, servers, since: float) -> float | None:
    """When the last of `servers` gave its first 2xx after `since` (None: not all have)."""
    firsts = [
        min((a.at for a in senders.accepted() if a.url == s.url and a.at > since), default=None)
        for s in servers
    ]
    return None if None in firsts else max(firsts)
