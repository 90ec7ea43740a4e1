"""Keeping the leases of the jobs this process is executing from expiring while their (possibly
slow) app calls run: one thread per process extends them all, one statement per owner."""

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from controlplane.runs.models import Job

log = logging.getLogger(__name__)


def leases_extend(job_ids: list[int], *, owner: str) -> None:
    if job_ids:
        lease = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
        Job.objects.filter(id__in=job_ids, lease_owner=owner).update(lease_until=lease)


class _Leases:
    def __init__(self):
        self._held: dict[int, str] = {}  # job id -> its lease owner
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def held(self, job_id: int, owner: str):
        """Keep the job's lease until the block exits."""
        with self._lock:
            self._held[job_id] = owner
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(target=self._beat, name="leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._held[job_id]

    def _beat(self) -> None:
        stop = threading.Event()  # never set: the thread ends with the process
        while not stop.wait(settings.JOB_LEASE_SECONDS / 3):
            with self._lock:
                by_owner: dict[str, list[int]] = {}
                for job_id, owner in self._held.items():
                    by_owner.setdefault(owner, []).append(job_id)
            if not by_owner:
                continue
            try:
                for owner, job_ids in by_owner.items():
                    leases_extend(job_ids, owner=owner)
            except Exception:
                log.exception("extending job leases failed")
            finally:
                connection.close()


leases = _Leases()
