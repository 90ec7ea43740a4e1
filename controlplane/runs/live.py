"""Telling live pages that a run changed: after commit, one message per run per transaction.

The engine appends timeline rows through `history_append`, which calls `run_changed`. The
dashboard's consumers listen on the groups named here and render what they push from the
database, so a message carries only ids: the run, the range of timeline rows this transaction
appended, and the steps they were about.
"""

import asyncio
import logging
import os
import threading

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from controlplane.transactions import pending_on_commit

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
    pending = pending_on_commit(lambda c: isinstance(c, _RunChanged) and c.run_id == run.pk)
    if pending is not None:
        pending.add(history_id, step_id)
        return
    callback = _RunChanged(run.pk, run.environment_id, run.function_id, history_id)
    callback.add(history_id, step_id)
    transaction.on_commit(callback, robust=True)


def publish(messages: list[tuple[str, dict]]) -> None:
    """Hand the messages to an event loop that sends them; the caller (an engine thread that
    just committed) does not wait for them."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all():
        for group, message in messages:
            await layer.group_send(group, message)

    if isinstance(layer, InMemoryChannelLayer):
        # Its queues live in this process and wake only their own loop's waiters: no consumer
        # has run here yet means nobody can be listening.
        loop = _server_loop
        if loop is None or not loop.is_running():
            return
    else:
        loop = _sender_loop()
    asyncio.run_coroutine_threadsafe(send_all(), loop).add_done_callback(_log_failure)


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's sending loop, on a thread of its own: a channel layer's connections
    belong to one loop, which a loop per message (async_to_sync) would open each time."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():  # first use, or a forked worker
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="live-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("a live update was not sent", exc_info=future.exception())
