"""Telling live pages that a run changed: after commit, one message per run per transaction.

The engine appends timeline rows through `history_append`, which calls `run_changed`. The
dashboard's consumers listen on the groups named here and render what they push from the
database, so a message carries only ids: the run, the range of timeline rows this transaction
appended, and the steps they were about.
"""

import logging

from django.db import transaction

from controlplane.live import publish
from controlplane.transactions import pending_on_commit

logger = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def runs_group(environment_id: int) -> str:
    return f"runs-env-{environment_id}"


class _RunChanged:
    """The on-commit callback of one run in one transaction; later rows extend it."""

    def __init__(self, run_id: int, environment_id: int, function_id: int, history_id: int):
        self.run_id, self.environment_id, self.function_id = run_id, environment_id, function_id
        self.first = self.last = history_id
        self.steps: set[str] = set()

    def add(self, history_id: int, step_id: str) -> None:
        self.last = max(self.last, history_id)
        if step_id:
            self.steps.add(step_id)

    def __call__(self) -> None:
        try:
            publish(self.messages())
        except Exception:  # the run's state is committed; a missed push must not undo that
            logger.exception("live update of run %s not sent", self.run_id)

    def messages(self) -> list[tuple[str, dict]]:
        return [
            (
                run_group(self.run_id),
                {
                    "type": "run.changed",
                    "run": self.run_id,
                    "first": self.first,
                    "last": self.last,
                    "steps": sorted(self.steps),
                },
            ),
            (
                runs_group(self.environment_id),
                {
                    "type": "runs.changed",
                    "run": self.run_id,
                    "function": self.function_id,
                    "last": self.last,
                },
            ),
        ]


def run_changed(run, history_id: int, step_id: str = "") -> None:
    """Publish, after the current transaction commits, that `run` got timeline row `history_id`.

    Once per run per transaction: a later row of the same run joins the pending callback. A
    rolled-back transaction drops its callbacks, so nothing is sent for it.
    """
    pending = pending_on_commit(lambda c: isinstance(c, _RunChanged) and c.run_id == run.pk)
    if pending is not None:
        pending.add(history_id, step_id)
        return
    callback = _RunChanged(run.pk, run.environment_id, run.function_id, history_id)
    callback.add(history_id, step_id)
    transaction.on_commit(callback, robust=True)
