"""Sending to the channel layer's groups from synchronous code (engine threads, requests), and
the group every socket of one person joins, so a change of what they may see reaches their
open pages (controlplane/runs/live.py names the runs pages' groups)."""

import asyncio
import logging
import os
import threading

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# The event loop of this process's ASGI server, once a consumer has run on it.
_server_loop: asyncio.AbstractEventLoop | None = None


def serving_on(loop: asyncio.AbstractEventLoop) -> None:
    """Called by consumers: the in-memory layer's queues belong to this loop."""
    global _server_loop
    _server_loop = loop


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def sockets_recheck(*, user_ids) -> None:
    """After the current transaction commits, have every socket these people hold check again
    that they may still watch its page (a membership removed, two-factor authentication
    required, a session ended); a socket that may not is closed."""
    messages = [(user_group(pk), {"type": "access.changed"}) for pk in user_ids]
    transaction.on_commit(lambda: publish(messages), robust=True)


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
