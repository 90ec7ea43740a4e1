"""The job queue: scheduling, claiming with a lease, lease extension.

Claims are serialized, not `SKIP LOCKED`: a claim must count the slots each concurrency queue
has in flight and pick fairly across environments, and two claimers skipping each other's rows
would both see a free slot. On PostgreSQL a transaction-scoped advisory lock serializes them
(a claim is one short query); on SQLite the IMMEDIATE transaction does.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from controlplane.engine.backends import backend, backend_notify
from controlplane.engine.errors import standard_error
from controlplane.engine.protocol import DISCOVERY
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, Job, JobKind, Run

CLAIM_LOCK = 0x434C4149  # "CLAI": the advisory lock claims take on PostgreSQL
WORKER_LOST_MESSAGE = (
    "The worker making this call was lost (its lease expired before it stored an answer): "
    "the call is made again."
)


def job_schedule(
    run: Run,
    kind: str,
    *,
    step_id: str = "step",
    attempt: int = 0,
    at: datetime | None = None,
    payload=None,
) -> Job:
    """Queue a job for the run; the backend hears of it once the transaction commits, unless
    the worker executing the run keeps it (`_keeper`).

    Calls carry the run's concurrency queues; every job sorts by its time moved by the run's
    priority (seconds), so a high-priority run's work goes ahead of work due at the same time.
    """
    now = timezone.now()
    at = at or now
    queues = run.concurrency if kind == JobKind.CALL else []
    (ck1, ck1_limit), (ck2, ck2_limit) = (list(queues) + [("", 0), ("", 0)])[:2]
    keeper = _keeper(run, kind, at <= now, queues)
    job = Job.objects.create(
        run=run,
        environment_id=run.environment_id,
        kind=kind,
        step_id=step_id,
        attempt=attempt,
        payload=payload or {},
        available_at=at,
        sort_at=at - timedelta(seconds=run.priority),
        ck1=ck1,
        ck1_limit=ck1_limit,
        ck2=ck2,
        ck2_limit=ck2_limit,
        lease_owner=keeper or "",
        lease_until=_lease(now) if keeper else None,
        claimed_at=now if keeper else None,
        published_at=now if not keeper and backend().publishes_at_commit(at) else None,
    )
    if kind == JobKind.CALL and step_id == DISCOVERY:
        run._discovery_queued = True  # for engine.steps.discovery_queued, in this transaction
    if keeper:
        run._kept_job = job
    else:
        backend_notify(jobs=[(job.pk, job.available_at)])
    return job


def call_job_id(job: Job) -> str:
    """The call's id as the SDK sees it (`ctx.jobId`): like Inngest's queue item id, it stays
    the same while the call is retried (`job_retry_payload`), so apps can key side effects on
    it. A call claimed again after its worker died is the same row, so the same id."""
    return job.payload.get("job_id") or str(job.pk)


def job_retry_payload(job: Job) -> dict:
    """The payload of a retry of `job`: it carries the call's id on."""
    return {"job_id": call_job_id(job)}


def jobs_keep_next_call(run: Run, *, owner: str) -> None:
    """Let the worker `owner`, which holds the run's lock, keep the run's next app call if this
    transaction queues one that is due at once: it is inserted already leased to the worker,
    which runs it right after the commit (`run._kept_job`), with no trip through the queue."""
    run._keeper = owner


def _keeper(run: Run, kind: str, due: bool, queues) -> str | None:
    """Only the first call queued in the transaction is kept, and only outside concurrency
    queues: their slots are handed out by claims alone."""
    keeper = getattr(run, "_keeper", None)
    first = getattr(run, "_kept_job", None) is None
    return keeper if keeper and first and kind == JobKind.CALL and due and not queues else None


def jobs_reschedule(run: Run, *, at: datetime) -> None:
    """Move a run's unclaimed first call (a pending debounce or batch) to `at`."""
    jobs = Job.objects.filter(run=run, kind=JobKind.CALL, lease_until__isnull=True)
    moved = list(jobs.values_list("id", flat=True))
    published = timezone.now() if backend().publishes_at_commit(at) else None
    jobs.update(
        available_at=at, sort_at=at - timedelta(seconds=run.priority), published_at=published
    )
    backend_notify(jobs=[(job_id, at) for job_id in moved])


def _claimable(now: datetime):
    return Q(available_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.JOB_LEASE_SECONDS)


def _claim_lock() -> None:
    """Claims are decided one at a time, so two claimers never both take the last slot of a
    concurrency queue (PostgreSQL; SQLite's IMMEDIATE transactions already serialize them)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CLAIM_LOCK])


# The claim's two reads, written out: they run once per claim, and compiling them through the
# ORM (a window function, a random order) cost more CPU than the rest of the claim.
_IN_FLIGHT_SQL = (
    "SELECT ck1, ck1_limit, ck2, ck2_limit FROM {job} "
    "WHERE kind = %s AND lease_until >= %s AND ck1 <> ''"
)
# Each environment's due jobs ranked by priority-adjusted time; the first of every environment,
# then the second, ..., environments of the same rank in random order.
_CANDIDATES_SQL = (
    "SELECT * FROM (SELECT {job}.*, "
    "ROW_NUMBER() OVER (PARTITION BY environment_id ORDER BY sort_at, id) AS claim_rank, "
    "RANDOM() AS claim_shuffle FROM {job} "
    "WHERE available_at <= %s AND (lease_until IS NULL OR lease_until < %s){full}"
    ") ranked WHERE claim_rank <= %s ORDER BY claim_rank, claim_shuffle LIMIT %s"
)


def _in_flight(now: datetime) -> tuple[Counter, dict[str, int]]:
    """App calls holding a slot of each concurrency queue (leased, unexpired call jobs), and
    each queue's limit."""
    counts, limits = Counter(), {}
    with connection.cursor() as cursor:
        cursor.execute(
            _IN_FLIGHT_SQL.format(job=Job._meta.db_table),
            [JobKind.CALL, connection.ops.adapt_datetimefield_value(now)],
        )
        leased = cursor.fetchall()
    for ck1, limit1, ck2, limit2 in leased:
        for key, limit in ((ck1, limit1), (ck2, limit2)):
            if key:
                counts[key] += 1
                limits[key] = min(limit, limits.get(key, limit))
    return counts, limits


def _fits(job: Job, counts: Counter) -> bool:
    return (not job.ck1 or counts[job.ck1] < job.ck1_limit) and (
        not job.ck2 or counts[job.ck2] < job.ck2_limit
    )


def _take(job: Job, counts: Counter) -> None:
    for key in (job.ck1, job.ck2):
        if key:
            counts[key] += 1


def _candidates(now: datetime, full: list[str], limit: int) -> list[Job]:
    """Due jobs not queued behind a full concurrency queue, in claim order (see below)."""
    at = connection.ops.adapt_datetimefield_value(now)
    exclude, params = "", [at, at]
    if full:
        marks = ", ".join(["%s"] * len(full))
        exclude = f" AND ck1 NOT IN ({marks}) AND ck2 NOT IN ({marks})"
        params += [*full, *full]
    sql = _CANDIDATES_SQL.format(job=Job._meta.db_table, full=exclude)
    return list(Job.objects.raw(sql, [*params, limit, limit * 4]))


def jobs_claim_due(*, owner: str, limit: int) -> list[Job]:
    """Lease up to `limit` due jobs that fit their concurrency limits.

    Fair between tenants: each environment's due jobs are ranked by priority-adjusted time and
    the claim takes the first of every environment, then the second, and so on, so one
    environment's flood cannot starve another. Environments with the same rank go in random
    order: a claim of one job (a Celery message) would otherwise always pick the environment
    with the oldest backlog.
    """
    now = timezone.now()
    with transaction.atomic():
        _claim_lock()
        counts, limits = _in_flight(now)
        full = [key for key, count in counts.items() if count >= limits[key]]
        candidates = _candidates(now, full, limit)
        chosen = []
        for job in candidates:
            if len(chosen) == limit:
                break
            if _fits(job, counts):
                _take(job, counts)
                chosen.append(job)
        if not chosen:
            return []
        lease = _lease(now)
        Job.objects.filter(id__in=[job.pk for job in chosen]).update(
            lease_until=lease, lease_owner=owner, claimed_at=now
        )
        _calls_lost([job for job in chosen if job.kind == JobKind.CALL and job.lease_until])
    for job in chosen:
        job.lease_until, job.lease_owner, job.claimed_at = lease, owner, now
    return chosen


def _calls_lost(jobs: list[Job]) -> None:
    """Calls claimed again after their lease expired: the worker that held them died (or
    stalled) during its attempt, which may have reached the app. The call made now is the next
    attempt, and each run's timeline says why (an attempt that ended without an answer)."""
    if not jobs:
        return
    Job.objects.filter(id__in=[job.pk for job in jobs]).update(attempt=F("attempt") + 1)
    runs = Run.objects.in_bulk([job.run_id for job in jobs])
    for job in jobs:
        lost, job.attempt = job.attempt, job.attempt + 1
        if run := runs.get(job.run_id):  # else deleted meanwhile, and its jobs with it
            history_append(
                run,
                HistoryKind.WORKER_LOST,
                step_id=job.step_id,
                step_name="" if job.step_id == DISCOVERY else job.step_id,
                attempt=lost,
                error=standard_error("WorkerLostError", WORKER_LOST_MESSAGE),
                claimed_at=job.claimed_at.isoformat() if job.claimed_at else None,
            )


def jobs_waiting_for(queues: list[str], *, limit: int) -> list[tuple[int, datetime]]:
    """Due, unclaimed calls queued behind these concurrency queues, first in line first."""
    now = timezone.now()
    waiting = Job.objects.filter(_claimable(now)).filter(Q(ck1__in=queues) | Q(ck2__in=queues))
    return list(waiting.order_by("sort_at", "id").values_list("id", "available_at")[:limit])


def next_due_at() -> datetime | None:
    now = timezone.now()
    return Job.objects.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).aggregate(
        at=Min("available_at")
    )["at"]
