"""The figures each scenario measures, kept for the session's closing table."""

from dataclasses import dataclass, fields

import pytest


@dataclass
class Row:
    """One scenario's figures. None: not measured in this scenario."""

    events_accepted: int | None = None  # events in 2xx answers
    events_stored: int | None = None  # of the events sent, those in the database
    runs_started: int | None = None
    runs_completed: int | None = None
    runs_stuck: int | None = None  # not finished when the scenario stopped waiting
    step_executions: int | None = None  # step bodies run, from the app's ledger
    stored_results_max: int | None = None  # most results stored for one step of a run
    # From the fault to what the scenario calls recovered: the killed worker's jobs done by
    # others; the killed server answering 2xx again; both servers answering 2xx after
    # PostgreSQL was back; every run finished after Redis was back, or after the full stop's
    # restart began.
    recovery_seconds: float | None = None
    seconds: float | None = None  # the scenario's wall time
    notes: str = ""

    def record(self, **figures) -> None:
        for name, value in figures.items():
            setattr(self, name, value)

    def as_cells(self) -> list[str]:
        return [_cell(getattr(self, f.name)) for f in fields(self)]


HEADERS = [
    "scenario",
    "events accepted",
    "events stored",
    "runs started",
    "runs completed",
    "runs stuck",
    "step executions",
    "stored results per step (max)",
    "recovery s",
    "scenario s",
    "notes",
]
FIGURES = pytest.StashKey[dict[str, Row]]()


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def table(rows: dict[str, Row]) -> str:
    """A Markdown table, one line per scenario."""
    lines = [HEADERS, ["---"] * len(HEADERS)]
    lines += [[name, *row.as_cells()] for name, row in rows.items()]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
