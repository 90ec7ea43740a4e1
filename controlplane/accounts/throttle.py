"""Failed sign-in throttling, per account and per client address.

Counts live in the cache (Redis when configured, so every server process shares them). The
per-account counter is keyed by the *typed* email, existing or not, so a lockout says nothing
about whether an account exists.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


@dataclass(frozen=True)
class Lockout:
    seconds: int

    @property
    def minutes(self) -> int:
        return max(1, -(-self.seconds // 60))


def _keys(email: str, address: str) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return [
        (f"signin:account:{digest}", settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT),
        (f"signin:address:{address}", settings.SIGNIN_MAX_FAILURES_PER_ADDRESS),
    ]


def signin_lockout(*, email: str, address: str) -> Lockout | None:
    """The active lockout for this account or address, if either has too many failures."""
    for key, limit in _keys(email, address):
        if (cache.get(key) or 0) >= limit:
            return Lockout(seconds=settings.SIGNIN_LOCKOUT_SECONDS)
    return None


def signin_failure_record(*, email: str, address: str) -> None:
    for key, _limit in _keys(email, address):
        # add() starts the window on the first failure; incr() keeps its expiry.
        cache.add(key, 0, timeout=settings.SIGNIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=settings.SIGNIN_LOCKOUT_SECONDS)


def signin_success_record(*, email: str) -> None:
    key, _limit = _keys(email, "")[0]
    cache.delete(key)
