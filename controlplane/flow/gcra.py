"""The generic cell rate algorithm, with its state in the database (one row per key, locked
for the decision), for throttle (delay), rate limits and idempotency (skip)."""

from datetime import datetime, timedelta

from controlplane.flow.models import GcraState


def _state(key: str, now: datetime) -> GcraState:
    state, _ = GcraState.objects.select_for_update().get_or_create(key=key, defaults={"tat": now})
    return state


def throttle_start(
    key: str, *, now: datetime, period: timedelta, limit: int, burst: int
) -> datetime:
    """When the next run may start: `limit` per `period`, evenly spaced, at most `burst` at
    once (Inngest's default burst is 1). Always books a start: throttled runs are delayed,
    never dropped."""
    interval = period / limit
    state = _state(key, now)
    tat = max(state.tat, now)
    start = max(now, tat - interval * max(burst - 1, 0))
    state.tat = tat + interval
    state.save(update_fields=["tat"])
    return start


def rate_allows(key: str, *, now: datetime, period: timedelta, limit: int) -> bool:
    """True (and counted) if one more run fits `limit` per `period`; False means skip it."""
    interval = period / limit
    state = _state(key, now)
    tat = max(state.tat, now)
    if tat - (period - interval) > now:
        return False
    state.tat = tat + interval
    state.save(update_fields=["tat"])
    return True
