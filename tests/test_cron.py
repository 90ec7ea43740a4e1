"""Cron strings as Inngest takes them, their next fire times, and their celery-beat rows."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from controlplane.engine.cron import cron_tick, fire_cron
from controlplane.registry.cron import CronError, cron_next_times, cron_parse
from controlplane.registry.models import Function
from controlplane.registry.services import app_register, app_set_archived
from controlplane.runs.models import Run
from controlplane.tenancy.models import AuditEntry
from tests.registrations import function, python_body

NOON = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Paris goes to CEST


@pytest.mark.parametrize(
    ("cron", "fields", "zone"),
    [
        ("0 3 * * *", ("0", "3", "*", "*", "*"), "UTC"),
        ("TZ=Europe/Paris 0 3 * * 1-5", ("0", "3", "*", "*", "1-5"), "Europe/Paris"),
        (
            "CRON_TZ=America/New_York */15 9-17 * * mon-fri",
            ("*/15", "9-17", "*", "*", "mon-fri"),
            "America/New_York",
        ),
        ("@hourly", ("0", "*", "*", "*", "*"), "UTC"),
        ("TZ=Asia/Tokyo @daily", ("0", "0", "*", "*", "*"), "Asia/Tokyo"),
        ("0 0 1 jan,jul ?", ("0", "0", "1", "jan,jul", "*"), "UTC"),
    ],
)
def test_it_parses_what_inngest_accepts(cron, fields, zone):
    spec = cron_parse(cron)
    assert (
        spec.minute,
        spec.hour,
        spec.day_of_month,
        spec.month_of_year,
        spec.day_of_week,
    ) == fields
    assert spec.timezone == zone


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("61 * * * *", "the minute field '61' is not valid"),
        ("* 24 * * *", "the hour field '24' is not valid"),
        ("0 0 0 * *", "the day of month field '0' is not valid"),
        ("0 0 * 13 *", "the month field '13' is not valid"),
        ("0 0 * * 8", "the day of week field '8' is not valid"),
        ("mon * * * *", "the minute field 'mon' is not valid"),
        ("*/0 * * * *", "the minute field '*/0' is not valid"),
        ("0 3 * * * *", "a cron has five fields"),
        ("", "a cron has five fields"),
        ("@every 5m", "@every 5m is not supported"),
        ("TZ=Nowhere/Land 0 3 * * *", "unknown time zone Nowhere/Land"),
    ],
)
def test_it_explains_what_it_refuses(cron, message):
    with pytest.raises(CronError, match=message.replace("*", r"\*")):
        cron_parse(cron)


def test_next_fire_times_follow_the_crons_time_zone_across_a_dst_change():
    times = cron_next_times("TZ=Europe/Paris 0 3 * * *", count=3, after=NOON)
    assert [t.isoformat() for t in times] == [
        "2026-03-28T03:00:00+01:00",
        "2026-03-29T03:00:00+02:00",  # summer time from 2 am that night
        "2026-03-30T03:00:00+02:00",
    ]


def test_next_fire_times_of_frequent_and_rare_crons():
    assert [t.minute for t in cron_next_times("*/20 * * * *", count=4, after=NOON)] == [
        20,
        40,
        0,
        20,
    ]
    weekdays = cron_next_times("0 9 * * 1-5", count=3, after=NOON)
    assert [t.date().isoformat() for t in weekdays] == ["2026-03-30", "2026-03-31", "2026-04-01"]
    [leap] = cron_next_times("0 0 29 2 *", count=1, after=NOON)
    assert leap.date().isoformat() == "2028-02-29"
    assert cron_next_times("0 0 30 2 *", after=NOON) == []  # never: no endless search


# --- celery-beat rows -------------------------------------------------------------------------


def tasks():
    return {task.name: task for task in PeriodicTask.objects.all()}


@pytest.mark.django_db
def test_sync_creates_keeps_replaces_and_removes_cron_rows(world):
    def sync(*functions):
        result = app_register(
            environment=world.prod_a, payload=python_body("py", list(functions)), kind="in_band"
        )
        assert result.succeeded, result.error
        return result

    report = function(
        "py", "report", triggers=[{"cron": "TZ=Europe/Paris 0 3 * * *"}, {"event": "test/report"}]
    )
    sync(report, function("py", "hello"))
    name = "org-a/production: py-report cron TZ=Europe/Paris 0 3 * * *"
    [task] = tasks().values()
    fn = Function.objects.get(slug="py-report")
    assert task.name == name and task.task == "controlplane.engine.tasks.fire_cron"
    assert json.loads(task.kwargs) == {
        "function": fn.public_id,
        "cron": "TZ=Europe/Paris 0 3 * * *",
    }
    assert str(task.crontab.timezone) == "Europe/Paris" and task.crontab.hour == "3"
    assert "app py" in task.description

    sync(report, function("py", "hello"))  # unchanged: the same row, not a new one
    assert list(tasks().values()) == [task]

    hourly = {**report, "triggers": [{"cron": "@hourly"}, {"cron": "30 1 * * 0"}]}
    sync(hourly)
    assert set(tasks()) == {
        "org-a/production: py-report cron @hourly",
        "org-a/production: py-report cron 30 1 * * 0",
    }
    sync(function("py", "hello"))  # the cron function is gone, and so are its rows
    assert tasks() == {}


@pytest.mark.django_db
def test_archiving_an_app_pauses_its_cron_rows(world):
    nightly = function("py", "nightly", triggers=[{"cron": "0 3 * * *"}])
    sync = app_register(
        environment=world.prod_a, payload=python_body("py", [nightly]), kind="in_band"
    )
    app_set_archived(app=sync.app, actor=world.owner, archived=True)
    assert not PeriodicTask.objects.get().enabled
    # A sync while archived keeps new rows paused too.
    changed = {**nightly, "triggers": [{"cron": "0 4 * * *"}]}
    app_register(environment=world.prod_a, payload=python_body("py", [changed]), kind="in_band")
    assert not PeriodicTask.objects.get().enabled
    app_set_archived(app=sync.app, actor=world.owner, archived=False)
    assert PeriodicTask.objects.get().enabled


# --- fires: each scheduled time once, whatever the fire's own time -----------------------------

SECOND, MINUTE, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


@pytest.fixture
def every_minute(world) -> Function:
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("crons", [function("crons", "tick", triggers=[{"cron": "* * * * *"}])]),
        kind="out_of_band",
    )
    return sync.app.functions.get(slug="crons-tick")


def first_minute(fn: Function) -> datetime:
    """The first time the function's cron is due: the minute after its sync."""
    return fn.triggers.get().cron_next_at


def scheduled_minutes(fn: Function) -> list[datetime]:
    runs = Run.objects.filter(function=fn).select_related("event").order_by("id")
    return [datetime.fromisoformat(run.event.data["scheduledAt"]) for run in runs]


@pytest.mark.django_db
def test_each_fire_runs_the_minute_it_was_scheduled_for(every_minute):
    noon = first_minute(every_minute)
    assert fire_cron(function=every_minute.public_id, cron="* * * * *", now=noon + 57 * SECOND)
    assert fire_cron(function=every_minute.public_id, cron="* * * * *", now=noon + 61 * SECOND)
    assert scheduled_minutes(every_minute) == [noon, noon + MINUTE]


@pytest.mark.django_db
def test_a_late_fire_keeps_its_minute_and_the_next_minute_still_runs(every_minute):
    noon = first_minute(every_minute)
    # The fire of `noon` comes a minute late (a backlog, a broker restart), then the next one.
    assert fire_cron(function=every_minute.public_id, cron="* * * * *", now=noon + 61 * SECOND)
    fire_cron(function=every_minute.public_id, cron="* * * * *", now=noon + 65 * SECOND)
    assert scheduled_minutes(every_minute) == [noon, noon + MINUTE]


@pytest.mark.django_db
def test_a_minute_fired_twice_runs_once(world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body(
            "crons",
            [function("crons", "both", triggers=[{"cron": "* * * * *"}, {"cron": "*/2 * * * *"}])],
        ),
        kind="out_of_band",
    )
    fn = sync.app.functions.get()
    # The next even minute: both crons are due then (and every minute before it once).
    first, even = sorted(fn.triggers.values_list("cron_next_at", flat=True))
    for _ in range(2):  # two schedulers, or a beat restarted within the minute
        for cron in ("* * * * *", "*/2 * * * *"):
            fire_cron(function=fn.public_id, cron=cron, now=even + 2 * SECOND)
    assert scheduled_minutes(fn) == [first, even] if first < even else [even]


@pytest.mark.django_db
def test_minutes_missed_while_the_scheduler_was_down_run_once_when_it_is_back(every_minute):
    noon = first_minute(every_minute)
    assert cron_tick(now=noon + 4 * MINUTE + 30 * SECOND) == 5
    assert cron_tick(now=noon + 4 * MINUTE + 40 * SECOND) == 0
    assert cron_tick(now=noon + 5 * MINUTE) == 1
    assert scheduled_minutes(every_minute) == [noon + n * MINUTE for n in range(6)]


@pytest.mark.django_db
def test_minutes_older_than_the_catch_up_window_are_skipped_and_audited(
    every_minute, settings, caplog
):
    settings.CRON_CATCHUP_SECONDS = 600
    noon = first_minute(every_minute)
    assert cron_tick(now=noon + 2 * HOUR) == 10
    assert scheduled_minutes(every_minute) == [
        noon + 2 * HOUR - n * MINUTE for n in range(9, -1, -1)
    ]
    [entry] = AuditEntry.objects.filter(action="cron.skipped")
    assert entry.actor_label == "system" and entry.target_label == str(every_minute)
    assert entry.data == {
        "cron": "* * * * *",
        "from": noon.isoformat(),
        "until": (noon + 2 * HOUR - 10 * MINUTE).isoformat(),
    }
    assert "skipped its times from" in caplog.text


@pytest.mark.django_db
def test_an_archived_apps_cron_fires_nothing_and_resumes_from_now(world, every_minute):
    noon = first_minute(every_minute)
    app_set_archived(app=every_minute.app, actor=world.owner, archived=True)
    assert cron_tick(now=noon + 3 * MINUTE) == 0
    app_set_archived(app=every_minute.app, actor=world.owner, archived=False)
    resumed = first_minute(every_minute)  # the minute after the unarchiving: nothing is owed
    assert resumed == cron_next_times("* * * * *", count=1)[0]
    assert cron_tick(now=resumed) == 1
    assert scheduled_minutes(every_minute) == [resumed]
