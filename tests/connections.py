"""Counting the PostgreSQL connections processes hold, each told apart by its
`application_name`."""

import contextlib
import threading

import psycopg

_HELD = (
    "SELECT application_name, count(*) FROM pg_stat_activity "
    "WHERE application_name = ANY(%s) GROUP BY 1"
)
ALL = "all"


@contextlib.contextmanager
def connections_held(database_url: str, applications: list[str]):
    """Yields a dict: for each application, the most connections it held at once while the
    block ran, and under ALL the most they held together; sampled every 20 ms on a connection
    of its own."""
    peak, stop = dict.fromkeys([*applications, ALL], 0), threading.Event()
    with psycopg.connect(database_url, autocommit=True) as watcher:

        def sample():
            while not stop.wait(0.02):
                held = dict(watcher.execute(_HELD, [applications]).fetchall())
                for name, count in [*held.items(), (ALL, sum(held.values()))]:
                    peak[name] = max(peak[name], count)

        sampler = threading.Thread(target=sample, name="connections-held", daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            stop.set()
            sampler.join()
