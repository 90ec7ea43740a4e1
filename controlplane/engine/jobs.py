"""The job queue: scheduling, claiming with a lease, lease extension.

Claims use `SELECT ... FOR UPDATE SKIP LOCKED` where the database has it (PostgreSQL); on SQLite
the IMMEDIATE transaction serializes claimers instead.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from controlplane.engine.backends import backend
from controlplane.runs.models import Job, Run


def job_schedule(
    run: Run,
    kind: str,
    *,
    step_id: str = "step",
    attempt: int = 0,
    at: datetime | None = None,
    payload=None,
) -> Job:
    """Queue a job for the run; the backend hears of it once the transaction commits."""
    job = Job.objects.create(
        run=run,
        environment_id=run.environment_id,
        kind=kind,
        step_id=step_id,
        attempt=attempt,
        payload=payload or {},
        available_at=at or timezone.now(),
    )
    transaction.on_commit(lambda: backend().jobs_created([(job.pk, job.available_at)]))
    return job


def _claimable(now: datetime):
    return Q(available_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.JOB_LEASE_SECONDS)


def jobs_claim_due(*, owner: str, limit: int) -> list[Job]:
    """Lease up to `limit` due jobs, oldest first."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Job.objects.select_for_update(skip_locked=True)
            .filter(_claimable(now))
            .order_by("available_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        Job.objects.filter(id__in=ids).update(lease_until=_lease(now), lease_owner=owner)
    return list(Job.objects.filter(id__in=ids, lease_owner=owner).order_by("available_at", "id"))


def job_claim(job_id: int, *, owner: str) -> Job | None:
    """Lease one job by id if it is due and free (a Celery task names the job it is for)."""
    now = timezone.now()
    claimed = Job.objects.filter(_claimable(now), pk=job_id).update(
        lease_until=_lease(now), lease_owner=owner
    )
    return Job.objects.filter(pk=job_id, lease_owner=owner).first() if claimed else None


def leases_extend(job_ids: list[int], *, owner: str) -> None:
    """Keep leases of jobs still in progress (slow SDK calls) from expiring."""
    if job_ids:
        Job.objects.filter(id__in=job_ids, lease_owner=owner).update(
            lease_until=_lease(timezone.now())
        )


def next_due_at() -> datetime | None:
    now = timezone.now()
    return Job.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).aggregate(
        at=Min("available_at")
    )["at"]


class LeaseKeeper:
    """Extends a job's lease while its (possibly slow) SDK call runs, until the block exits."""

    def __init__(self, job_id: int, owner: str):
        import threading

        self._job_id, self._owner = job_id, owner
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        from django.db import connection

        interval = settings.JOB_LEASE_SECONDS / 3
        try:
            while not self._done.wait(interval):
                leases_extend([self._job_id], owner=self._owner)
        finally:
            connection.close()
