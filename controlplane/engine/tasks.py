"""Celery tasks. They take ids (or nothing) and call one function each."""

import logging
import threading
from datetime import datetime, timedelta

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Q
from django.utils import timezone

from controlplane.engine.connections import release_pooled_connection
from controlplane.engine.cron import FIRE_CRON_TASK, cron_tick
from controlplane.engine.cron import fire_cron as fire_cron_service
from controlplane.engine.jobs import jobs_claim_due
from controlplane.engine.ticks import ticks_run
from controlplane.engine.worker import run_claimed, worker_name
from controlplane.runs.models import Job

log = logging.getLogger(__name__)
_OWNER = None


def _owner() -> str:
    global _OWNER
    if _OWNER is None:  # one name per worker process (prefork children included)
        _OWNER = worker_name("celery")
    return _OWNER


def publish(jobs: list[tuple[int, datetime]], *, marked: bool = False) -> None:
    """Send one message per job, due at its `available_at`, after noting when (unless the jobs
    were stored as published: `marked`). A message does not name its job: the worker that gets
    it claims the best due job, so priority, fairness and concurrency are decided in the
    database, not by the broker's order."""
    if not jobs:
        return
    if not marked:
        Job.objects.filter(id__in=[job_id for job_id, _ in jobs]).update(
            published_at=timezone.now()
        )
    now = timezone.now()
    for _job_id, available_at in jobs:
        _send(eta=available_at if available_at > now else None)


def _send(*, eta: datetime | None = None) -> None:
    execute_next.apply_async(eta=eta, queue=settings.CELERY_TASK_DEFAULT_QUEUE)


@shared_task(name="controlplane.engine.tasks.execute_next", ignore_result=True)
def execute_next() -> None:
    for job in jobs_claim_due(owner=_owner(), limit=1):
        if job.published_at is None:
            # A job never sent (a timer that came due before a sweep sent it) took the message
            # of a job that was: send that one another, or it waits for JOB_REPUBLISH_SECONDS.
            _send()
        run_claimed(job, owner=_owner())


def sweep() -> int:
    """Publish due jobs whose worker died (expired lease), that were never published (timers,
    a crash between commit and publish), or whose message may be lost (published long ago)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOB_REPUBLISH_SECONDS)
    # Sent again once after its lease expired (not every second while it stays expired).
    lost_worker = Q(lease_until__lt=now) & (
        Q(published_at__isnull=True) | Q(published_at__lt=F("lease_until"))
    )
    lost_message = Q(lease_until__isnull=True) & (
        Q(published_at__isnull=True) | Q(published_at__lt=stale)
    )
    due = Job.objects.filter(lost_worker | lost_message, available_at__lte=now)
    jobs = list(due.values_list("id", "available_at")[:5000])
    publish(jobs)
    return len(jobs)


@shared_task(name=FIRE_CRON_TASK, ignore_result=True)
def fire_cron(function: str, cron: str = "") -> None:
    fire_cron_service(function=function, cron=cron)


class _Sweeper:
    """Every Celery worker sweeps, so timers and cron times fire and lost jobs come back with no
    extra process (several sweepers only ever publish a job twice; its claim is atomic)."""

    def __init__(self):
        self._stop = threading.Event()

    def start(self, **_signal) -> None:
        threading.Thread(target=self._loop, name="engine-sweeper", daemon=True).start()

    def stop(self, **_signal) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(settings.ENGINE_POLL_SECONDS):
            # Cron times come due here too, not only through beat's messages: those wait in the
            # queue behind any backlog. Whichever fires a time first fires it; the other finds
            # nothing due (cron_fire_due locks the trigger).
            for work in (sweep, cron_tick):
                try:
                    work()
                except Exception:
                    log.exception("%s failed", work.__name__)
                    close_old_connections()
            ticks_run()  # periodic work of other apps (bulk actions)
            release_pooled_connection()


_sweeper = _Sweeper()
worker_ready.connect(_sweeper.start, weak=False)
worker_shutdown.connect(_sweeper.stop, weak=False)
