"""Appending to a run's timeline: the one write path, so every row reaches live pages."""

from controlplane.runs.live import run_changed
from controlplane.runs.models import Run, RunHistory


def history_append(
    run: Run, kind: str, *, step_id: str = "", step_name: str = "", attempt=None, **data
) -> None:
    row = RunHistory.objects.create(
        run=run, kind=kind, step_id=step_id, step_name=step_name[:512], attempt=attempt, data=data
    )
    run_changed(run, row.pk, step_id)
