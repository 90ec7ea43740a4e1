"""The runs a scenario's events started, read from the database, and the app's ledger of step
executions beside the results the server stored."""

import json
import time
from collections import Counter
from dataclasses import dataclass

from tests.chaos.processes import wait_until

FINISHED = ["completed", "failed", "cancelled"]
_OF_SCENARIO = (
    "FROM runs_run r JOIN events_event e ON e.id = r.event_id WHERE e.data->>'scenario' = %s"
)


@dataclass
class Runs:
    statuses: Counter  # status -> runs
    executions: Counter  # (run id, step name) -> times the app ran the step's body
    stored: Counter  # (run id, step name) -> results stored for it (step_completed rows)

    @property
    def started(self) -> int:
        return sum(self.statuses.values())

    @property
    def unfinished(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in FINISHED)

    @property
    def stored_max(self) -> int:
        return max(self.stored.values(), default=0)

    def figures(self) -> dict:
        return dict(
            runs_started=self.started,
            runs_completed=self.statuses["completed"],
            runs_stuck=self.unfinished,
            step_executions=sum(self.executions.values()),
            stored_results_max=self.stored_max,
        )


def runs_of(shape, scenario: str) -> Runs:
    statuses = Counter(
        dict(shape.rows(f"SELECT r.status, count(*) {_OF_SCENARIO} GROUP BY 1", scenario))
    )
    stored = shape.rows(
        "SELECT r.public_id, h.step_name, count(*) FROM runs_runhistory h "
        "JOIN runs_run r ON r.id = h.run_id JOIN events_event e ON e.id = r.event_id "
        "WHERE e.data->>'scenario' = %s AND h.kind = 'step_completed' GROUP BY 1, 2",
        scenario,
    )
    ids = {run for (run,) in shape.rows(f"SELECT r.public_id {_OF_SCENARIO}", scenario)}
    return Runs(
        statuses=statuses,
        executions=Counter(
            (entry["run"], entry["step"]) for entry in ledger(shape) if entry["run"] in ids
        ),
        stored=Counter({(run, step): n for run, step, n in stored}),
    )


def ledger(shape) -> list[dict]:
    if not shape.ledger.exists():
        return []
    return [json.loads(line) for line in shape.ledger.read_text().splitlines() if line]


def wait_for_runs(shape, scenario: str, *, count: int, timeout: float) -> float:
    """Wait until `count` runs of the scenario have finished; when that was (time.time()).
    Fails with the statuses reached if they do not in `timeout` seconds."""

    def finished() -> bool:
        done = shape.scalar(
            f"SELECT count(*) {_OF_SCENARIO} AND r.status = ANY(%s)", scenario, FINISHED
        )
        return done >= count

    try:
        wait_until(finished, timeout=timeout, every=0.25, what=f"{count} runs of {scenario}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {dict(runs_of(shape, scenario).statuses)}") from None
    return time.time()
