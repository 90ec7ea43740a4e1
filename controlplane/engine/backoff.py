"""Retry delays: Inngest's backoff table (pkg/backoff) with up to 30 s of jitter."""

import random
from datetime import timedelta

from django.conf import settings

TABLE = [
    timedelta(seconds=15),
    timedelta(seconds=30),
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=10),
    timedelta(minutes=20),
    timedelta(minutes=40),
    timedelta(hours=1),
    timedelta(hours=2),
]
MAX_JITTER = timedelta(seconds=30)


def retry_delay(failed_attempt: int) -> timedelta:
    """How long to wait after attempt `failed_attempt` (0-based) failed.

    RETRY_BACKOFF_SCALE shrinks the whole table for tests and local experiments.
    """
    base = TABLE[min(failed_attempt, len(TABLE) - 1)]
    jitter = MAX_JITTER * random.random()
    return (base + jitter) * settings.RETRY_BACKOFF_SCALE
