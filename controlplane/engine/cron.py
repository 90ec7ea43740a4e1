"""Cron triggers: syncs write django-celery-beat PeriodicTask rows (registry/cron.py); a fire
starts one run, with an `inngest/scheduled.timer` event, for each scheduled time that is due.

A fire does not take its time from the clock. Each trigger stores its next scheduled time
(`cron_next_at`); a fire locks the trigger, starts a run for every scheduled time up to now and
stores the next one, in one transaction. So a late fire still runs its own minute, a second
fire of the same minute (two schedulers, a beat restarted) finds nothing due, and the minutes
that passed while the scheduler was down run when it is back, each once, like Inngest's cron
queue catching up. Times more than CRON_CATCHUP_SECONDS old are skipped instead: a warning
in the log and an entry in the organization's audit log say which.

Celery beat sends the fire task in the Celery backend; the local backend ticks through the due
triggers itself, so the embedded default needs no beat process.
"""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.engine.effects import Effects
from controlplane.engine.settle import settle
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.flow.admission import admit
from controlplane.registry.cron import cron_times
from controlplane.registry.models import Function, FunctionTrigger
from controlplane.tenancy.audit import audit_record

FIRE_CRON_TASK = "controlplane.engine.tasks.fire_cron"
log = logging.getLogger(__name__)


def fire_cron(*, function: str, cron: str, now: datetime | None = None) -> int:
    """Beat's fire of a function's cron trigger: its due times (`cron_fire_due`)."""
    trigger = FunctionTrigger.objects.filter(function__public_id=function, cron=cron).first()
    return cron_fire_due(trigger.pk, now=now) if trigger else 0


def cron_tick(now: datetime | None = None) -> int:
    """The local backend's tick: fire every enabled cron trigger with a time due."""
    now = now or timezone.now()
    due = FunctionTrigger.objects.filter(cron_next_at__lte=now, periodic_task__enabled=True)
    return sum(cron_fire_due(pk, now=now) for pk in due.values_list("pk", flat=True))


def cron_fire_due(trigger_id: int, *, now: datetime | None = None) -> int:
    """Fire the trigger's scheduled times up to `now` (the clock) and store the next one.
    Returns how many timer events were stored.

    Side effects, in one transaction with the trigger row locked: the trigger's next time; per
    time, a timer event whose id names the function and the minute (event ids are idempotent,
    so two triggers of one function due the same minute start one run) and its run, delayed or
    skipped like any trigger's (a paused function's fires are recorded as skipped); an audit
    entry for times too old to catch up. A function that is gone or archived fires nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        trigger = (
            FunctionTrigger.objects.select_for_update(of=("self",))
            .select_related("function__app", "function__environment")
            .filter(pk=trigger_id, cron_next_at__lte=now)
            .first()
        )
        if trigger is None:
            return 0  # nothing due, or another scheduler fired it first
        cutoff = now - timedelta(seconds=settings.CRON_CATCHUP_SECONDS)
        missed_from = trigger.cron_next_at if trigger.cron_next_at <= cutoff else None
        times, trigger.cron_next_at = _due(_upcoming(trigger, cutoff), now)
        trigger.save(update_fields=["cron_next_at"])
        function = trigger.function
        if function.removed_at or function.app.is_archived or function.environment.is_archived:
            return 0
        if missed_from:
            _record_skipped(function, trigger.cron, missed_from, cutoff)
        return _fire(function, trigger.cron, times, now)


def _upcoming(trigger: FunctionTrigger, cutoff: datetime) -> Iterator[datetime]:
    """The trigger's scheduled times from its next one on, those at or before `cutoff` left out."""
    if trigger.cron_next_at <= cutoff:
        return cron_times(trigger.cron, after=cutoff)
    return chain([trigger.cron_next_at], cron_times(trigger.cron, after=trigger.cron_next_at))


def _due(upcoming: Iterator[datetime], now: datetime) -> tuple[list[datetime], datetime | None]:
    """The times up to `now`, and the first one after it (None: the cron never fires again)."""
    due = []
    for at in upcoming:
        if at > now:
            return due, at
        due.append(at)
    return due, None


def _record_skipped(function: Function, cron: str, first: datetime, cutoff: datetime) -> None:
    log.warning(
        "cron %r of %s: skipped its times from %s to %s, older than CRON_CATCHUP_SECONDS",
        cron,
        function.public_id,
        first.isoformat(),
        cutoff.isoformat(),
    )
    audit_record(
        organization=function.environment.organization,
        environment=function.environment,
        actor=None,
        action="cron.skipped",
        target=function,
        data={"cron": cron, "from": first.isoformat(), "until": cutoff.isoformat()},
    )


def _fire(function: Function, cron: str, times: list[datetime], now: datetime) -> int:
    payloads = [
        {
            "name": "inngest/scheduled.timer",
            "id": f"cron:{function.public_id}:{at:%Y%m%dT%H%M}",
            "ts": int(now.timestamp() * 1000),
            "data": {"cron": cron, "scheduledAt": at.isoformat(), "fireAt": now.isoformat()},
        }
        for at in (time.astimezone(UTC) for time in times)
    ]
    if not payloads:
        return 0
    ingested = events_ingest(
        environment=function.environment, payloads=payloads, source=EventSource.INTERNAL
    )
    fx = Effects()
    for new in (i for i in ingested if i.created):
        admit(function, new.event, fx=fx)  # paused, rate-limited, ... like any trigger
    settle(fx)
    return sum(i.created for i in ingested)
