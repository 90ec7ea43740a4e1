"""Time series for the dashboard's charts: one aggregate query per chart, bucketed by time in the
database (Trunc works on SQLite and PostgreSQL alike), never a loop over runs."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Count, F, Q, Value
from django.db.models.functions import Trunc
from django.utils import timezone

from controlplane.observability.models import DURATION_BOUNDS_MS, SdkCall
from controlplane.runs.models import Run, RunStatus


@dataclass(frozen=True)
class Window:
    name: str
    span: timedelta
    step: timedelta
    trunc: str  # the Trunc kind whose buckets are `step` long


WINDOWS = {
    "hour": Window("hour", timedelta(hours=1), timedelta(minutes=1), "minute"),
    "day": Window("day", timedelta(days=1), timedelta(hours=1), "hour"),
    "week": Window("week", timedelta(days=7), timedelta(days=1), "day"),
}


@dataclass(frozen=True)
class Series:
    buckets: list[datetime]  # each bucket's start, oldest first
    values: dict[str, list[float | None]]  # one value per bucket, per line or stack


def _buckets(window: Window, now: datetime) -> list[datetime]:
    last = now.astimezone(UTC).replace(second=0, microsecond=0)
    if window.trunc in ("hour", "day"):
        last = last.replace(minute=0)
    if window.trunc == "day":
        last = last.replace(hour=0)
    count = int(window.span / window.step)
    return [last - window.step * i for i in range(count - 1, -1, -1)]


def _scope(model, *, environment, function):
    rows = model.objects.filter(environment=environment)
    return rows.filter(function=function) if function is not None else rows


def _fill(buckets, rows, keys, *, key_field: str, value_field: str = "n") -> dict[str, list]:
    index = {bucket: i for i, bucket in enumerate(buckets)}
    values = {key: [0] * len(buckets) for key in keys}
    for row in rows:
        i = index.get(row["bucket"].astimezone(UTC))
        if i is not None and row[key_field] in values:
            values[row[key_field]][i] += row[value_field]
    return values


def runs_by_status(*, environment, function=None, window: Window) -> Series:
    """Runs queued in each bucket, by their status now."""
    buckets = _buckets(window, timezone.now())
    rows = (
        _scope(Run, environment=environment, function=function)
        .filter(queued_at__gte=buckets[0])
        .annotate(bucket=Trunc("queued_at", window.trunc, tzinfo=UTC))
        .values("bucket", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return Series(buckets, _fill(buckets, rows, RunStatus.values, key_field="status"))


def throughput(*, environment, function=None, window: Window) -> Series:
    """Runs started and runs finished per bucket (one UNION query)."""
    buckets = _buckets(window, timezone.now())
    runs = _scope(Run, environment=environment, function=function).order_by()

    def counted(field: str):
        return (
            runs.filter(**{f"{field}__gte": buckets[0]})
            .annotate(bucket=Trunc(field, window.trunc, tzinfo=UTC), kind=Value(field))
            .values("bucket", "kind")
            .annotate(n=Count("id"))
        )

    rows = counted("started_at").union(counted("ended_at"), all=True)
    values = _fill(buckets, rows, ("started_at", "ended_at"), key_field="kind")
    return Series(buckets, {"started": values["started_at"], "finished": values["ended_at"]})


def failure_rate(statuses: Series) -> Series:
    """Failed runs as a percentage of the runs that ended, per bucket (None: none ended)."""
    rates = []
    for i in range(len(statuses.buckets)):
        ended = sum(statuses.values[s][i] for s in (RunStatus.COMPLETED, RunStatus.FAILED))
        failed = statuses.values[RunStatus.FAILED][i]
        rates.append(round(100 * failed / ended, 1) if ended else None)
    return Series(statuses.buckets, {"failed %": rates})


def step_durations(*, environment, function=None, window: Window) -> Series:
    """p50 and p95 of step duration (the SDK calls that ran a step's code), in ms, per bucket:
    counts per (time, duration bucket) from the database, quantiles read from that histogram."""
    buckets = _buckets(window, timezone.now())
    rows = (
        _scope(SdkCall, environment=environment, function=function)
        .filter(Q(started_at__gte=buckets[0]), ran_step=True)
        .annotate(bucket=Trunc("started_at", window.trunc, tzinfo=UTC), le=F("duration_bucket"))
        .values("bucket", "le")
        .annotate(n=Count("id"))
        .order_by()
    )
    histograms = _fill(buckets, rows, range(len(DURATION_BOUNDS_MS)), key_field="le")
    per_bucket = [[histograms[le][i] for le in histograms] for i in range(len(buckets))]
    return Series(
        buckets,
        {
            "p50": [_quantile(0.5, counts) for counts in per_bucket],
            "p95": [_quantile(0.95, counts) for counts in per_bucket],
        },
    )


def _quantile(q: float, counts: list[int]) -> float | None:
    """Like Prometheus's histogram_quantile: linear within the bucket the quantile falls in."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            lower = DURATION_BOUNDS_MS[i - 1] if i else 0
            upper = DURATION_BOUNDS_MS[i]
            if upper == float("inf"):
                return float(lower)
            return round(lower + (upper - lower) * (rank - seen) / count, 1)
        seen += count
    return None
