"""The run charts: aggregates bucketed by time, percentiles from the duration histogram, and the
SVG on the function page and the environment overview."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.engine.invoke import function_invoke
from controlplane.observability.models import DURATION_BOUNDS_MS, SdkCall
from controlplane.observability.selectors import (
    WINDOWS,
    _quantile,
    failure_rate,
    runs_by_status,
    step_durations,
    throughput,
)
from controlplane.registry.services import app_register
from controlplane.runs.models import Run, RunStatus
from tests.registrations import function, python_body

pytestmark = pytest.mark.django_db
HOUR = WINDOWS["hour"]


@pytest.fixture
def fn(world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f"), function("app", "g")]),
        kind="out_of_band",
    )
    return sync.app.functions.get(slug="app-f")


def make_run(fn, status, *, minutes_ago: float, seconds: float = 1.0) -> Run:
    run = function_invoke(function=fn, data={})
    queued = timezone.now() - timedelta(minutes=minutes_ago)
    ended = queued + timedelta(seconds=seconds) if status in ("completed", "failed") else None
    Run.objects.filter(pk=run.pk).update(
        status=status, queued_at=queued, started_at=queued, ended_at=ended
    )
    return run


def sample(run, ms: float, *, minutes_ago: float = 1):
    SdkCall.objects.create(
        environment=run.environment,
        function=run.function,
        run=run,
        step_id="s",
        attempt=0,
        outcome="ops",
        ran_step=True,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        duration_ms=ms,
        duration_bucket=next(i for i, b in enumerate(DURATION_BOUNDS_MS) if ms <= b),
    )


def test_runs_are_counted_by_status_per_minute_for_the_function_or_environment(world, fn):
    make_run(fn, "completed", minutes_ago=2)
    make_run(fn, "completed", minutes_ago=2)
    make_run(fn, "failed", minutes_ago=2)
    make_run(fn, "running", minutes_ago=0)
    make_run(fn, "completed", minutes_ago=90)  # outside the hour
    other = make_run(world.prod_a.functions.get(slug="app-g"), "failed", minutes_ago=2)
    series = runs_by_status(environment=world.prod_a, function=fn, window=HOUR)
    assert len(series.buckets) == 60
    assert series.values["completed"][-3] == 2 and series.values["failed"][-3] == 1
    assert series.values["running"][-1] == 1 and sum(series.values["completed"]) == 2
    everything = runs_by_status(environment=world.prod_a, window=HOUR)
    assert everything.values["failed"][-3] == 2
    assert runs_by_status(environment=world.prod_b, window=HOUR).values["failed"][-3] == 0
    rate = failure_rate(series).values["failed %"]
    assert rate[-3] == pytest.approx(33.3) and rate[-1] is None
    assert other.function.slug == "app-g"


def test_throughput_counts_starts_and_ends_in_one_query(world, fn, django_assert_num_queries):
    make_run(fn, "completed", minutes_ago=5)
    make_run(fn, "running", minutes_ago=5)
    with django_assert_num_queries(1):
        series = throughput(environment=world.prod_a, function=fn, window=HOUR)
    assert series.values["started"][-6] == 2 and sum(series.values["finished"]) == 1


def test_step_duration_percentiles_come_from_the_histogram(world, fn):
    run = make_run(fn, "completed", minutes_ago=1)
    for ms in [20] * 90 + [2000] * 10:
        sample(run, ms)
    series = step_durations(environment=world.prod_a, function=fn, window=HOUR)
    p50, p95 = series.values["p50"][-2], series.values["p95"][-2]
    assert 10 < p50 <= 25 and 1000 < p95 <= 2500
    assert series.values["p50"][0] is None
    assert _quantile(0.5, [0] * len(DURATION_BOUNDS_MS)) is None


@pytest.mark.parametrize("window", ["hour", "day", "week"])
def test_the_function_page_and_overview_draw_the_charts(client, world, signed_in, fn, window):
    make_run(fn, "completed", minutes_ago=1)
    make_run(fn, "failed", minutes_ago=1)
    signed_in(world.viewer)
    page = client.get(
        f"/org-a/production/functions/{fn.public_id}/?range={window}"
    ).content.decode()
    for chart in ("runs-by-status", "throughput", "failure-rate", "step-duration"):
        assert f'id="chart-{chart}"' in page
    assert " completed: 1</title></rect>" in page and " failed: 1</title></rect>" in page
    assert f'aria-current="true">Last {window}</a>' in page
    overview = client.get(f"/org-a/production/?range={window}").content.decode()
    assert " failed: 1</title></rect>" in overview
    other = client.get("/org-a/development/").content.decode()
    assert "No data in this range" in other and "</rect>" not in other
    assert RunStatus.FAILED in {r.status for r in Run.objects.all()}
