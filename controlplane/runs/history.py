"""Appending to a run's timeline: the one write path, so every row reaches live pages."""

from contextlib import contextmanager

from controlplane.runs.live import run_changed
from controlplane.runs.models import Run, RunHistory


def history_append(
    run: Run, kind: str, *, step_id: str = "", step_name: str = "", attempt=None, **data
) -> None:
    row = RunHistory(
        run=run, kind=kind, step_id=step_id, step_name=step_name[:512], attempt=attempt, data=data
    )
    buffered = getattr(run, "_history_buffer", None)
    if buffered is not None:
        buffered.append(row)
    else:
        row.save(force_insert=True)
        run_changed(run, row.pk, step_id)


@contextmanager
def history_batched(run: Run):
    """Collect the rows appended to this run instance's timeline inside the block and insert
    them in one statement, in order, when it exits normally (inside the caller's transaction)."""
    run._history_buffer = []
    try:
        yield
        rows = run._history_buffer
    finally:
        run._history_buffer = None
    if rows:
        RunHistory.objects.bulk_create(rows)  # sets their ids (PostgreSQL, SQLite >= 3.35)
        for row in rows:
            run_changed(run, row.pk, row.step_id)
