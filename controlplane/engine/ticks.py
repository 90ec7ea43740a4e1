"""Periodic work that higher layers hand to the engine's loops, so the engine never imports them.

Both backends already run a loop about once a second (local: the timer thread; Celery: each
worker's sweeper); they call `ticks_run` from it. Apps register in their `ready()`.
"""

import logging
from collections.abc import Callable

from django.db import close_old_connections

log = logging.getLogger(__name__)
_TICKS: list[Callable[[], object]] = []


def tick_register(tick: Callable[[], object]) -> None:
    if tick not in _TICKS:
        _TICKS.append(tick)


def ticks_run() -> None:
    """Call every registered tick; one failing does not keep the others from running."""
    for tick in _TICKS:
        try:
            tick()
        except Exception:
            log.exception("periodic tick %s failed", tick.__qualname__)
            close_old_connections()
