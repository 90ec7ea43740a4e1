"""Server-rendered SVG charts: geometry computed here, drawn by templates/partials/run_charts.html.
No JavaScript, no library: a chart is bars or polylines in a fixed viewBox."""

from dataclasses import dataclass, field

from controlplane.observability.selectors import (
    WINDOWS,
    Series,
    failure_rate,
    runs_by_status,
    step_durations,
    throughput,
)

WIDTH, HEIGHT, LEFT, BOTTOM = 600, 150, 40, 18
COLORS = {
    "queued": "#94a3b8",
    "running": "#3b82f6",
    "sleeping": "#a78bfa",
    "waiting": "#f59e0b",
    "completed": "#22c55e",
    "failed": "#ef4444",
    "cancelled": "#6b7280",
    "started": "#3b82f6",
    "finished": "#22c55e",
    "failed %": "#ef4444",
    "p50": "#3b82f6",
    "p95": "#f97316",
}


@dataclass
class Chart:
    id: str
    title: str
    unit: str
    top: float  # the y axis's maximum
    legend: list[tuple[str, str, float]]  # (name, color, window total or latest value)
    bars: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)  # x labels
    empty: bool = False


def _x(i: int, n: int) -> float:
    return LEFT + (WIDTH - LEFT) * i / n


def _y(value: float, top: float) -> float:
    return round(HEIGHT - BOTTOM - (HEIGHT - BOTTOM - 4) * value / top, 1)


def _ticks(series: Series, fmt: str) -> list[dict]:
    n = len(series.buckets)
    every = max(1, n // 6)
    return [
        {"x": round(_x(i, n), 1), "label": b.strftime(fmt)}
        for i, b in enumerate(series.buckets)
        if i % every == 0
    ]


def stacked_bars(id: str, title: str, series: Series, fmt: str) -> Chart:
    n = len(series.buckets)
    totals = [sum(v[i] for v in series.values.values()) for i in range(n)]
    top = max(totals + [1])
    chart = Chart(id, title, "runs", top, [], ticks=_ticks(series, fmt), empty=not any(totals))
    width = (WIDTH - LEFT) / n
    for i, bucket in enumerate(series.buckets):
        base = 0
        for name, values in series.values.items():
            if values[i]:
                y0, y1 = _y(base, top), _y(base + values[i], top)
                chart.bars.append(
                    {
                        "x": round(_x(i, n) + width * 0.1, 1),
                        "y": y1,
                        "w": round(width * 0.8, 1),
                        "h": round(y0 - y1, 1),
                        "color": COLORS[name],
                        "title": f"{bucket:%Y-%m-%d %H:%M} {name}: {values[i]}",
                    }
                )
                base += values[i]
    chart.legend = [(k, COLORS[k], sum(v)) for k, v in series.values.items() if sum(v)]
    return chart


def lines(id: str, title: str, series: Series, fmt: str, unit: str) -> Chart:
    n = len(series.buckets)
    known = [v for values in series.values.values() for v in values if v is not None]
    top = max(known + [1])
    chart = Chart(id, title, unit, top, [], ticks=_ticks(series, fmt), empty=not known)
    for name, values in series.values.items():
        # Buckets without data (None) are skipped, not drawn as zeros; a dot marks each point,
        # so a single one shows too.
        points = [
            (round(_x(i, n) + (WIDTH - LEFT) / n / 2, 1), _y(v, top))
            for i, v in enumerate(values)
            if v is not None
        ]
        chart.lines.append(
            {
                "name": name,
                "color": COLORS[name],
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": points if len(points) <= 60 else [],
            }
        )
        known_values = [v for v in values if v is not None]
        # Counts add up over the window; rates and durations are read at their latest value.
        summary = sum(known_values) if unit == "runs" else (known_values or [0])[-1]
        chart.legend.append((name, COLORS[name], summary))
    return chart


def run_charts(*, environment, function=None, window_name: str = "day") -> dict:
    """The four charts of a function page (or, without `function`, of the environment)."""
    window = WINDOWS.get(window_name, WINDOWS["day"])
    fmt = {"hour": "%H:%M", "day": "%H:00", "week": "%a %d"}[window.name]
    scope = {"environment": environment, "function": function, "window": window}
    statuses = runs_by_status(**scope)
    return {
        "window": window.name,
        "windows": list(WINDOWS),
        "charts": [
            stacked_bars("runs-by-status", "Runs by status", statuses, fmt),
            lines("throughput", "Throughput", throughput(**scope), fmt, "runs"),
            lines("failure-rate", "Failure rate", failure_rate(statuses), fmt, "%"),
            lines("step-duration", "Step duration", step_durations(**scope), fmt, "ms"),
        ],
    }
