"""Cron triggers: syncs write django-celery-beat PeriodicTask rows; firing one starts a run with
an `inngest/scheduled.timer` event. Celery beat fires them in the Celery backend; the local
backend ticks through the same rows itself, so the embedded default needs no beat process."""

import json
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.flow.admission import admit
from controlplane.registry.models import Function

FIRE_CRON_TASK = "controlplane.engine.tasks.fire_cron"


def fire_cron(*, function: str, cron: str, at: datetime | None = None) -> bool:
    """Start one run of the function for the fire time `at` (now). Returns False if the function
    is gone or its app or environment archived, or if this minute already fired (two
    schedulers): the timer event's id is derived from the function and the minute, and event ids
    are idempotent. A paused function's fire is stored and recorded as skipped, like any event
    that would have started a run, so it can be replayed after resume."""
    at = at or timezone.now()
    scheduled = at.replace(second=0, microsecond=0)
    target = (
        Function.objects.select_related("app", "environment").filter(public_id=function).first()
    )
    if (
        target is None
        or target.removed_at is not None
        or target.app.is_archived
        or target.environment.is_archived
    ):
        return False
    payload = {
        "name": "inngest/scheduled.timer",
        "id": f"cron:{target.public_id}:{scheduled:%Y%m%dT%H%M}",
        "ts": int(at.timestamp() * 1000),
        "data": {"cron": cron, "scheduledAt": scheduled.isoformat(), "fireAt": at.isoformat()},
    }
    with transaction.atomic():
        [ingested] = events_ingest(
            environment=target.environment, payloads=[payload], source=EventSource.INTERNAL
        )
        if not ingested.created:
            return False
        fx = Effects()
        admit(target, ingested.event, fx=fx)  # paused, rate-limited, ... like any trigger
        settle(fx)
    return True


def cron_tick(now: datetime | None = None) -> int:
    """Fire every due cron PeriodicTask once (claimed by a conditional update of last_run_at)."""
    now = now or timezone.now()
    fired = 0
    for task in PeriodicTask.objects.filter(
        enabled=True, task=FIRE_CRON_TASK, crontab__isnull=False
    ).select_related("crontab"):
        last = task.last_run_at or task.date_changed
        due, _next = task.crontab.schedule.is_due(last)
        if not due:
            continue
        if not PeriodicTask.objects.filter(pk=task.pk, last_run_at=task.last_run_at).update(
            last_run_at=now
        ):
            continue  # another scheduler took it
        kwargs = json.loads(task.kwargs or "{}")
        fired += fire_cron(function=kwargs["function"], cron=kwargs.get("cron", ""), at=now)
    return fired
