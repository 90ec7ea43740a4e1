"""Appending to a run's timeline."""

from controlplane.runs.models import Run, RunHistory


def history_append(
    run: Run, kind: str, *, step_id: str = "", step_name: str = "", attempt=None, **data
) -> None:
    RunHistory.objects.create(
        run=run, kind=kind, step_id=step_id, step_name=step_name[:512], attempt=attempt, data=data
    )
