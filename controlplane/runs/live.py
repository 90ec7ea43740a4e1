"""Telling live pages that a run changed: after commit, one message per run per transaction.

The engine appends timeline rows through `history_append`, which calls `run_changed`. The
dashboard's consumers listen on the groups named here and render what they push from the
database, so a message carries only ids: the run, the range of timeline rows this transaction
appended, and the steps they were about.
"""

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# The event loop of this process's ASGI server, once a consumer has run on it.
_server_loop: asyncio.AbstractEventLoop | None = None


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def runs_group(environment_id: int) -> str:
    return f"runs-env-{environment_id}"


def serving_on(loop: asyncio.AbstractEventLoop) -> None:
    """Called by consumers: the in-memory layer's queues belong to this loop."""
    global _server_loop
    _server_loop = loop


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
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        # Django keeps (savepoint ids, callback, robust) per registration until commit and
        # drops those of a rolled-back savepoint, so a callback still listed here will run if
        # this row commits: join it.
        for _savepoints, callback, _robust in connection.run_on_commit:
            if isinstance(callback, _RunChanged) and callback.run_id == run.pk:
                callback.add(history_id, step_id)
                return
    callback = _RunChanged(run.pk, run.environment_id, run.function_id, history_id)
    callback.add(history_id, step_id)
    transaction.on_commit(callback, robust=True)


def publish(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    loop = _server_loop
    if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
        # Queues of the in-memory layer wake only their own loop's waiters: hand the sends to
        # that loop instead of blocking this (engine) thread on a loop of its own.
        asyncio.run_coroutine_threadsafe(send_all(), loop)
    elif _loop_running_here():
        # Synchronous code on a thread that also runs an event loop (Playwright's sync API
        # does that) cannot block on async_to_sync: send from a thread of its own.
        threading.Thread(target=async_to_sync(send_all), name="live-publish").start()
    else:
        async_to_sync(send_all)()


def _loop_running_here() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
