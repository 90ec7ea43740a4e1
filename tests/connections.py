"""Counting the PostgreSQL connections a process holds, told apart by its `application_name`."""

import contextlib
import threading

import psycopg

_HELD = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"


@contextlib.contextmanager
def connections_held(database_url: str, application: str):
    """Yields a one-item list: the most connections `application` held at once while the block
    ran, sampled every 20 ms on a connection of its own."""
    peak, stop = [0], threading.Event()
    with psycopg.connect(database_url, autocommit=True) as watcher:

        def sample():
            while not stop.wait(0.02):
                peak[0] = max(peak[0], watcher.execute(_HELD, [application]).fetchone()[0])

        sampler = threading.Thread(target=sample, name="connections-held", daemon=True)
        sampler.start()
        try:
            yield peak
        finally:
            stop.set()
            sampler.join()
