"""Many clients at once on both servers while the workers run what their events started: no
process holds more PostgreSQL connections than the README's formula gives it (DB_POOL_SIZE
each), and every request is answered. A server once kept one per request thread (76 of
PostgreSQL's 100), then answered 500 "too many clients"."""

from tests.chaos.runs import runs_of, wait_for_runs
from tests.chaos.senders import Senders, check_accepted_stored_once
from tests.connections import ALL, connections_held

POOL_SIZE = 10  # DB_POOL_SIZE's default
CLIENTS, EVENTS = 200, 400  # single events, two each from 200 threads at once
RUNS, STEPS, HOLD = 40, 2, 0.2  # beside them, runs that keep both workers busy


def test_many_clients_at_once_stay_within_the_connection_formula(shape, figures):
    urls, key = [server.url for server in shape.servers], shape.production.event_key
    clients = Senders(urls, key, "connections", threads=CLIENTS, count=EVENTS, timeout=60)
    runs = Senders(
        urls,
        key,
        "connections-runs",
        name="chaos/steps",
        data={"steps": STEPS, "hold": HOLD},
        threads=4,
        count=RUNS,
    )
    processes = [p.name for p in shape.engine_processes]
    with connections_held(shape.postgres.url, processes) as peak:
        runs.start(), clients.start()
        clients.join(), runs.join()
        wait_for_runs(shape, "connections-runs", count=RUNS, timeout=120)

    stored = check_accepted_stored_once(shape, clients)
    ran = runs_of(shape, "connections-runs")
    figures.events_accepted = len(clients.accepted()) + len(runs.accepted())
    figures.events_stored = len(stored) + RUNS
    figures.record(**ran.figures())
    formula = len(processes) * POOL_SIZE
    figures.notes = (
        f"{CLIENTS} clients; connections at most: "
        + ", ".join(f"{name} {peak[name]}" for name in processes)
        + f"; together {peak[ALL]} (formula: {formula})"
    )
    assert clients.statuses() == {200: EVENTS} and runs.statuses() == {200: RUNS}
    assert len(stored) == EVENTS
    assert ran.statuses == {"completed": RUNS}
    assert all(0 < peak[name] <= POOL_SIZE for name in processes), peak
    assert peak[ALL] <= formula
