"""The embedded backend: worker threads inside the server process. No broker, no other process."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from controlplane.engine.connections import release_pooled_connection
from controlplane.engine.cron import cron_tick
from controlplane.engine.jobs import jobs_claim_due, next_due_at
from controlplane.engine.ticks import ticks_run
from controlplane.engine.worker import run_claimed, worker_name

log = logging.getLogger(__name__)


class LocalBackend:
    def __init__(self):
        self.owner = worker_name("local")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        if self._pool is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(settings.LOCAL_WORKERS, thread_name_prefix="engine")
        self._threads = [
            threading.Thread(target=self._claim_loop, name="engine-claimer", daemon=True),
            threading.Thread(target=self._periodic_loop, name="engine-periodic", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("local executor started with %s workers", settings.LOCAL_WORKERS)

    def stop(self) -> None:
        if self._pool is None:
            return
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True)
        self._pool = None

    def publishes_at_commit(self, available_at) -> bool:
        return False  # nothing is sent anywhere: claims find due jobs in the database

    def jobs_created(self, jobs: list) -> None:
        self._wake.set()

    def slots_freed(self, queues: list[str]) -> None:
        self._wake.set()

    def _claim_loop(self) -> None:
        try:
            idle = 0.0
            while not self._stop.is_set():
                self._wake.wait(timeout=idle)
                self._wake.clear()
                if self._claim_and_run():
                    # Busy: a finishing job wakes the loop; poll anyway for other processes' jobs.
                    idle = settings.ENGINE_POLL_SECONDS
                else:
                    idle = self._idle_seconds()
                release_pooled_connection()
        finally:
            connection.close()

    def _claim_and_run(self) -> bool:
        """Claim as many due jobs as there are free workers, until none are due. True if the
        workers are all busy (nothing to learn from the queue's next due time)."""
        while not self._stop.is_set():
            with self._lock:
                free = settings.LOCAL_WORKERS - self._in_flight
            if free <= 0:
                return True
            try:
                jobs = jobs_claim_due(owner=self.owner, limit=free)
            except Exception:
                log.exception("claiming jobs failed")
                close_old_connections()
                return False
            with self._lock:
                self._in_flight += len(jobs)
            for job in jobs:
                self._pool.submit(self._run, job)
            if len(jobs) < free:
                return False
        return False

    def _run(self, job) -> None:
        try:
            run_claimed(job, owner=self.owner)
        finally:
            with self._lock:
                self._in_flight -= 1
            self._wake.set()  # a worker is free, and the job may have made others due

    def _idle_seconds(self) -> float:
        """Sleep until the next timer is due, but poll at least every second (jobs made by other
        processes, expired leases)."""
        try:
            due = next_due_at()
        except Exception:
            close_old_connections()
            return settings.ENGINE_POLL_SECONDS
        if due is None:
            return settings.ENGINE_POLL_SECONDS
        return min(max((due - timezone.now()).total_seconds(), 0), settings.ENGINE_POLL_SECONDS)

    def _periodic_loop(self) -> None:
        """Once a second: fire due cron triggers, then the other periodic work (bulk actions)."""
        try:
            while not self._stop.wait(1.0):
                try:
                    cron_tick()
                except Exception:
                    log.exception("cron tick failed")
                    close_old_connections()
                ticks_run()
                release_pooled_connection()
        finally:
            connection.close()
