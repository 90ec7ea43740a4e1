"""Reads about runs, always through the environment."""

from collections import defaultdict
from dataclasses import dataclass

from controlplane.runs.models import HistoryKind, Run, RunHistory, Step


def run_in_environment(*, environment, public_id: str) -> Run | None:
    return environment.runs.filter(public_id=public_id).select_related("function", "event").first()


def runs_of_event(*, environment, event) -> list[Run]:
    return list(environment.runs.filter(events=event).select_related("function").order_by("id"))


def memoized_steps(run: Run) -> tuple[dict, list[str]]:
    """The `steps` map and `ctx.stack` of the next call: every memo, in completion order."""
    rows = (
        Step.objects.filter(run=run, has_memo=True)
        .order_by("memo_seq")
        .values_list("step_id", "memo")
    )
    steps, stack = {}, []
    for step_id, memo in rows:
        steps[step_id] = memo
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


# Timeline rows that close one attempt of a step: errored (retrying), failed or completed.
ATTEMPT_KINDS = (
    HistoryKind.STEP_ERRORED,
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
