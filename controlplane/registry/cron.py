"""Cron triggers: parsing Inngest's cron strings, their next fire times, and celery-beat rows.

Inngest takes standard five-field crons, the @hourly-style shortcuts, and an optional
`TZ=Area/City ` (or `CRON_TZ=`) prefix. Fields are parsed with celery's own crontab parser, so
what a sync accepts is exactly what celery-beat will run. Beat matches a day when the
day-of-month *and* the day-of-week match; the next fire times shown follow beat.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab_parser
from django_celery_beat.models import CrontabSchedule, PeriodicTask

FIRE_TASK = "controlplane.engine.tasks.fire_cron"
TZ_PREFIX = re.compile(r"^(?:CRON_)?TZ=(\S+)\s+(.*)$")
SHORTCUTS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, celery parser bounds, whether month/day names are allowed)
FIELDS = [
    ("minute", (60, 0), False),
    ("hour", (24, 0), False),
    ("day of month", (31, 1), False),
    ("month", (12, 1), True),
    ("day of week", (7, 0), True),
]
NUMERIC = re.compile(r"^[0-9*/,\-]+$")
NAMED = re.compile(r"^[0-9A-Za-z*/,\-]+$")
# A schedule that matches no day at all (say, 30 February) must not loop forever.
SEARCH_DAYS = 366 * 8


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class CronSpec:
    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str
    timezone: str

    def sets(self) -> list[set[int]]:
        values = (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        return [
            crontab_parser(*bounds).parse(v)
            for v, (_n, bounds, _a) in zip(values, FIELDS, strict=True)
        ]


def cron_parse(expression: str) -> CronSpec:
    """The cron's five fields and time zone, or CronError in plain words."""
    text, zone = expression.strip(), "UTC"
    if match := TZ_PREFIX.match(text):
        zone, text = match.group(1), match.group(2).strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CronError(f"unknown time zone {zone}") from None
    if text.startswith("@"):
        if text not in SHORTCUTS:
            raise CronError(f"{text} is not supported; use five fields or one of @hourly, @daily…")
        text = SHORTCUTS[text]
    parts = text.split()
    if len(parts) != 5:
        raise CronError("a cron has five fields: minute hour day-of-month month day-of-week")
    parts = ["*" if part == "?" else part for part in parts]
    for part, (name, bounds, names_allowed) in zip(parts, FIELDS, strict=True):
        if not (NAMED if names_allowed else NUMERIC).match(part):
            raise CronError(f"the {name} field {part!r} is not valid")
        try:
            crontab_parser(*bounds).parse(part)
        except (ValueError, IndexError) as exc:  # celery's ParseException is a ValueError
            raise CronError(f"the {name} field {part!r} is not valid ({exc})") from None
    return CronSpec(*parts, timezone=zone)


def cron_next_times(
    expression: str, *, count: int = 5, after: datetime | None = None
) -> list[datetime]:
    """The next `count` fire times (aware, in the cron's time zone) after `after` (now)."""
    return list(islice(cron_times(expression, after=after or datetime.now(UTC)), count))


def cron_next_time(expression: str, *, after: datetime) -> datetime | None:
    """The first fire time after `after`, or None if the cron never fires."""
    return next(cron_times(expression, after=after), None)


def cron_times(expression: str, *, after: datetime) -> Iterator[datetime]:
    """Every fire time after `after`, in order (aware, in the cron's time zone)."""
    spec = cron_parse(expression)
    zone = ZoneInfo(spec.timezone)
    after = after.astimezone(zone)
    minutes, hours, days, months, weekdays = (sorted(s) for s in spec.sets())
    day = after.date()
    for _ in range(SEARCH_DAYS):
        if day.month in months and day.day in days and day.isoweekday() % 7 in weekdays:
            for hour in hours:
                for minute in minutes:
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    if moment > after:
                        yield moment
        day += timedelta(days=1)


def _task_name(trigger) -> str:
    function = trigger.function
    environment = function.environment
    name = (
        f"{environment.organization.slug}/{environment.slug}: {function.slug} cron {trigger.cron}"
    )
    return name if len(name) <= 200 else f"{name[:180]}… #{trigger.pk}"


def cron_task_create(*, trigger, enabled: bool) -> PeriodicTask:
    """The celery-beat row that fires this cron trigger; linked from the trigger."""
    spec = cron_parse(trigger.cron)
    schedule, _created = CrontabSchedule.objects.get_or_create(
        minute=spec.minute,
        hour=spec.hour,
        day_of_month=spec.day_of_month,
        month_of_year=spec.month_of_year,
        day_of_week=spec.day_of_week,
        timezone=spec.timezone,
    )
    task = PeriodicTask.objects.create(
        name=_task_name(trigger),
        task=FIRE_TASK,
        crontab=schedule,
        kwargs=json.dumps({"function": trigger.function.public_id, "cron": trigger.cron}),
        enabled=enabled,
        description=f"Cron trigger of {trigger.function.name}, declared by app "
        f"{trigger.function.app.app_id}. Managed by app syncs: edits are overwritten.",
    )
    trigger.periodic_task = task
    trigger.cron_next_at = _next_from_now(trigger.cron)
    trigger.save(update_fields=["periodic_task", "cron_next_at"])
    return task


def _next_from_now(expression: str) -> datetime | None:
    return cron_next_time(expression, after=datetime.now(UTC))


def cron_tasks_delete(triggers) -> None:
    # One by one, so celery-beat's change signal fires for each (bulk deletes skip it).
    ids = [trigger.periodic_task_id for trigger in triggers if trigger.periodic_task_id]
    for task in PeriodicTask.objects.filter(pk__in=ids):
        task.delete()


def cron_tasks_set_enabled(*, app, enabled: bool) -> None:
    """Pause or resume an app's cron rows. Resumed crons start again from now: the times they
    were paused through are not owed (unlike times missed while the scheduler was down)."""
    tasks = PeriodicTask.objects.filter(function_trigger__function__app=app).exclude(
        enabled=enabled
    )
    for task in tasks.select_related("function_trigger"):
        task.enabled = enabled
        task.save(update_fields=["enabled"])
        if enabled:
            trigger = task.function_trigger
            trigger.cron_next_at = _next_from_now(trigger.cron)
            trigger.save(update_fields=["cron_next_at"])
