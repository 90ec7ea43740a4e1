"""Reads about runs, always through the environment."""

from controlplane.runs.models import Run, Step


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
