"""Live flow-control figures of a function: what runs now, what waits, what was held back."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from controlplane.flow.models import Skip
from controlplane.registry.models import Function
from controlplane.runs.models import HistoryKind, Job, JobKind, RunHistory


@dataclass
class FlowFigures:
    steps_running: int = 0
    running_by_key: list[tuple[str, int]] = field(default_factory=list)  # top queues first
    runs_waiting: int = 0
    oldest_waiting_seconds: float | None = None
    throttled_last_hour: int = 0
    skipped_last_hour: dict[str, int] = field(default_factory=dict)


def flow_figures(function: Function) -> FlowFigures:
    now = timezone.now()
    hour_ago = now - timedelta(hours=1)
    calls = Job.objects.filter(run__function=function, kind=JobKind.CALL)
    running = calls.filter(lease_until__gte=now)
    by_key = Counter(
        dict(running.values_list("ck1").annotate(n=Count("id")).values_list("ck1", "n"))
    )
    waiting = calls.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), available_at__lte=now
    )
    oldest = waiting.aggregate(at=Min("available_at"))["at"]
    throttled = RunHistory.objects.filter(
        run__function=function,
        kind=HistoryKind.SCHEDULED,
        created_at__gte=hour_ago,
        data__has_key="start_at",
    )
    skipped = Skip.objects.filter(function=function, created_at__gte=hour_ago).values_list("reason")
    return FlowFigures(
        steps_running=sum(by_key.values()),
        running_by_key=[(key or "(no key)", n) for key, n in by_key.most_common(10)],
        runs_waiting=waiting.values("run_id").distinct().count(),
        oldest_waiting_seconds=(now - oldest).total_seconds() if oldest else None,
        throttled_last_hour=throttled.count(),
        skipped_last_hour=dict(skipped.annotate(n=Count("id")).values_list("reason", "n")),
    )


def skips_of_event(event) -> list[Skip]:
    """The functions this event would have started a run of, and why each did not."""
    return list(event.skips.select_related("function").order_by("id"))
