"""Runs to act on in bulk, made directly (no app is ever called: no engine runs here)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.bulk.services import run_filter_build
from controlplane.engine.create import run_create
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.registry.services import app_register
from controlplane.runs.models import Job, Run
from tests.registrations import function, python_body


@pytest.fixture
def fn(world):
    sync = app_register(
        environment=world.prod_a,
        payload=python_body("app", [function("app", "f"), function("app", "g")]),
        kind="out_of_band",
    )
    assert sync.status == "success", sync.error
    return sync.app.functions.get(slug="app-f")


def make_runs(
    function, count: int, *, status: str | None = None, name: str = "test/f", start_at=None
) -> list[Run]:
    """`count` runs of `function` for events `name` with data `{"n": i}`: queued (first call due
    at `start_at`, or now), or moved to `status` without ever calling the app."""
    ingested = events_ingest(
        environment=function.environment,
        payloads=[{"name": name, "data": {"n": i}} for i in range(count)],
        source=EventSource.API,
    )
    runs = [run_create(function=function, events=[i.event], start_at=start_at) for i in ingested]
    if status:
        Run.objects.filter(pk__in=[r.pk for r in runs]).update(
            status=status, ended_at=timezone.now()
        )
        Job.objects.filter(run__in=runs).delete()
    return runs


def last_hour(function, kind="cancel", **kwargs):
    now = timezone.now()
    return run_filter_build(
        function=function,
        kind=kind,
        started_after=now - timedelta(hours=1),
        started_before=now + timedelta(hours=1),
        **kwargs,
    )
