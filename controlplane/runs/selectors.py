"""Reads about runs, always through the environment."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Min, Q, TextField
from django.db.models.functions import Cast

from controlplane.runs.models import (
    DEFER_SCHEDULE_EVENT,
    Defer,
    DeferStatus,
    HistoryKind,
    Run,
    RunHistory,
    RunMetadata,
    Span,
    Step,
)


def run_in_environment(*, environment, public_id: str) -> Run | None:
    return environment.runs.filter(public_id=public_id).select_related("function", "event").first()


@dataclass(frozen=True)
class DeferLinks:
    defers: list[tuple[Defer, Run | None]]  # the run's defers, each with the run it started
    parent: Run | None  # the run whose defer started this one


def run_defer_links(run: Run) -> DeferLinks:
    """Both directions of `defer()`: the schedule event's id names (parent run, defer)."""
    defers = list(run.defers.order_by("id")) if run.has_defers else []
    started = {}
    if scheduled := [d.event_id for d in defers if d.status == DeferStatus.SCHEDULED]:
        children = run.environment.runs.filter(events__external_id__in=scheduled)
        for child in children.select_related("event"):
            started[child.event.external_id] = child
    parent = None
    if run.event.name == DEFER_SCHEDULE_EVENT and run.event.external_id.startswith("defer:"):
        parent_id = run.event.external_id.split(":")[1]
        parent = run_in_environment(environment=run.environment, public_id=parent_id)
    return DeferLinks([(d, started.get(d.event_id)) for d in defers], parent)


def runs_of_event(*, environment, event) -> list[Run]:
    return list(environment.runs.filter(events=event).select_related("function").order_by("id"))


# Read before every call to the app, so written out: compiling it through the ORM cost more
# CPU than running it. Memos come back as JSON text (Django's JSONField reads them so too).
_MEMOS_SQL = "SELECT step_id, memo FROM {step} WHERE run_id = %s AND has_memo ORDER BY memo_seq"


def memoized_steps(run: Run) -> tuple[dict, list[str]]:
    """The `steps` map and `ctx.stack` of the next call: every memo, in completion order."""
    with connection.cursor() as cursor:
        cursor.execute(_MEMOS_SQL.format(step=Step._meta.db_table), [run.pk])
        rows = cursor.fetchall()
    steps, stack = {}, []
    for step_id, memo in rows:
        steps[step_id] = json.loads(memo) if memo is not None else None
        stack.append(step_id)
    return steps, stack


@dataclass(frozen=True)
class StepPage:
    steps: list[Step]
    next_after: str | None  # the step id to continue after; None on the last page


def steps_page(*, run: Run, after: str | None, limit: int) -> StepPage | None:
    """The run's steps in the order they first appeared; None when `after` is no step of it."""
    steps = run.steps.all()
    if after:
        pk = run.steps.filter(step_id=after).values_list("pk", flat=True).first()
        if pk is None:
            return None
        steps = steps.filter(pk__gt=pk)
    rows = list(steps.order_by("pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return StepPage(steps=rows, next_after=rows[-1].step_id if more else None)


# Timeline rows that close one attempt of a step: errored (retrying), lost with its worker,
# failed or completed.
ATTEMPT_KINDS = (
    HistoryKind.STEP_ERRORED,
    HistoryKind.WORKER_LOST,
    HistoryKind.RETRY_SCHEDULED,
    HistoryKind.STEP_FAILED,
    HistoryKind.STEP_COMPLETED,
)


def step_attempts(*, run: Run, step_ids: list[str]) -> dict[str, list[RunHistory]]:
    """Each step's attempts, in order, from the run's timeline (one query)."""
    rows = run.history.filter(
        step_id__in=step_ids, kind__in=ATTEMPT_KINDS, attempt__isnull=False
    ).order_by("id")
    attempts = defaultdict(list)
    for row in rows:
        attempts[row.step_id].append(row)
    return attempts


RUNS_PAGE_SIZE = 50


@dataclass(frozen=True)
class RunFilters:
    statuses: tuple[str, ...] = ()
    function: object = None  # a Function of the environment
    app: object = None  # an App of the environment
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_after: str | None  # the public id to pass as `after` for the next (older) page


def _runs_matching(environment, filters: RunFilters):
    runs = environment.runs.select_related("environment__organization", "function", "event")
    if filters.statuses:
        runs = runs.filter(status__in=filters.statuses)
    if filters.function is not None:
        runs = runs.filter(function=filters.function)
    if filters.app is not None:
        runs = runs.filter(function__app=filters.app)
    if filters.since:
        runs = runs.filter(queued_at__gte=filters.since)
    if filters.until:
        runs = runs.filter(queued_at__lt=filters.until)
    if filters.q:
        # The output as JSON text: a substring of a key or of a value both match.
        runs = runs.annotate(output_text=Cast("output", TextField())).filter(
            Q(event__name__icontains=filters.q) | Q(output_text__icontains=filters.q)
        )
    return runs


def runs_page(
    *, environment, filters: RunFilters, after: str | None = None, limit: int = RUNS_PAGE_SIZE
) -> RunPage:
    """Newest first, keyset-paginated on (queued_at, id) like `events_page`: `after` is the last
    run of the previous page; one that is not a run of this environment is ignored. The filters
    match the (environment|function, [status,] -queued_at, -id) indexes of Run.Meta."""
    runs = _runs_matching(environment, filters)
    row = after and environment.runs.filter(public_id=after).values("queued_at", "id").first()
    if row:
        runs = runs.filter(queued_at__lte=row["queued_at"]).exclude(
            queued_at=row["queued_at"], id__gte=row["id"]
        )
    rows = list(runs.order_by("-queued_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(runs=rows, next_after=rows[-1].public_id if more else None)


def run_matching(*, environment, filters: RunFilters, run_id: int) -> Run | None:
    """The run (by primary key) if it belongs to the environment and matches the filters."""
    return _runs_matching(environment, filters).filter(pk=run_id).first()


def run_for_page(*, environment, public_id: str) -> Run | None:
    """A run with everything its page shows beside the steps (one query)."""
    return (
        environment.runs.filter(public_id=public_id)
        .select_related(
            "environment__organization",
            "function__app",
            "event",
            "parent__function",
            "replay_of",
            "cancelled_by",
        )
        .first()
    )


def metadata_of(run: Run, *, step_ids=None) -> list[RunMetadata]:
    """The run's metadata in the order it first came (bounded: controlplane/runs/metadata.py)."""
    entries = run.metadata.order_by("id")
    return list(entries if step_ids is None else entries.filter(step_id__in=step_ids))


@dataclass(frozen=True)
class Score:
    name: str
    value: float | bool
    entry: RunMetadata  # where it was written: the run or a step


def scores_of(entries: list[RunMetadata]) -> list[Score]:
    return [
        Score(name, score.get("value"), entry)
        for entry in entries
        if entry.kind == "inngest.score"
        for name, score in sorted(entry.values.items())
        if isinstance(score, dict)
    ]


@dataclass(frozen=True)
class StepRow:
    step: Step
    attempts: list[RunHistory]
    metadata: list[RunMetadata] = field(default_factory=list)  # of the step and its spans
    spans: list[tuple[Span, int]] = field(default_factory=list)  # exported spans, with depth


@dataclass(frozen=True)
class Timeline:
    rows: list[StepRow]
    new: set[str]  # step ids whose first timeline row comes after `since`: not on the page yet


def run_timeline(*, run: Run, since: int = 0, upto: int | None = None, step_ids=None) -> Timeline:
    """The steps of a run as its page shows them, in the order they first appeared.

    `upto`: show only the steps known at that timeline row (a page records the last row it
    rendered, and its socket sends every later step as new, exactly once). `step_ids`: only
    these steps. `since`: which steps count as new (first row after it).
    """
    firsts = run.history.exclude(step_id="").values("step_id").annotate(first=Min("id"))
    if step_ids is not None:
        firsts = firsts.filter(step_id__in=step_ids)
    first_of = {row["step_id"]: row["first"] for row in firsts}
    steps = run.steps.order_by("pk")
    if step_ids is not None:
        steps = steps.filter(step_id__in=step_ids)
    if upto is not None:
        steps = [s for s in steps if first_of.get(s.step_id, 0) <= upto]
    steps = list(steps)
    attempts = step_attempts(run=run, step_ids=[s.step_id for s in steps])
    metadata = defaultdict(list)
    for entry in metadata_of(run, step_ids=[s.step_id for s in steps]):
        metadata[entry.step_id].append(entry)
    spans = spans_by_step(run, [s.step_id for s in steps])
    return Timeline(
        rows=[
            StepRow(
                step=s,
                attempts=attempts.get(s.step_id, []),
                metadata=metadata[s.step_id],
                spans=spans.get(s.step_id, []),
            )
            for s in steps
        ],
        new={s.step_id for s in steps if first_of.get(s.step_id, 0) > since},
    )


def spans_by_step(run: Run, step_ids: list[str]) -> dict[str, list[tuple[Span, int]]]:
    """Each step's exported spans as a tree, in depth-first order with each span's depth (a
    span whose parent is not among them is a root; spans in a cycle are left out)."""
    children = defaultdict(list)
    spans = run.spans.filter(step_id__in=step_ids).order_by("started_at", "id")
    ids = {(s.step_id, s.span_id) for s in spans}
    for span in spans:
        linked = (span.step_id, span.parent_span_id) in ids and span.parent_span_id != span.span_id
        parent = span.parent_span_id if linked else ""
        children[(span.step_id, parent)].append(span)
    ordered = defaultdict(list)

    def walk(step_id: str, parent: str, depth: int) -> None:
        for span in children[(step_id, parent)]:
            ordered[step_id].append((span, depth))
            walk(step_id, span.span_id, depth + 1)

    for step_id in {s.step_id for s in spans}:
        walk(step_id, "", 0)
    return ordered


def run_last_history_id(run: Run) -> int:
    return run.history.order_by("-id").values_list("id", flat=True).first() or 0


def run_steps_changed(run: Run, since: int, upto: int) -> set[str]:
    """The steps that timeline rows (since, upto] were about."""
    rows = run.history.filter(id__gt=since, id__lte=upto).exclude(step_id="")
    return set(rows.values_list("step_id", flat=True))
