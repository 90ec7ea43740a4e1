"""Reads for keys, including the two authentication look-ups the SDK endpoints use."""

import hashlib
import hmac
import threading
import time

from django.db import connection

from controlplane.keys import crypto
from controlplane.keys.models import ApiKey, EventKey, SigningKey, SigningKeyState
from controlplane.keys.signatures import bearer_candidates
from controlplane.tenancy.models import Environment
from controlplane.tokens import token_hash

_STATE_ORDER = {SigningKeyState.ACTIVE: 0, SigningKeyState.NEXT: 1, SigningKeyState.FALLBACK: 2}


def event_keys_of(environment: Environment) -> list[EventKey]:
    return list(environment.event_keys.order_by("name"))


def event_key_in_environment(*, environment: Environment, public_id: str) -> EventKey | None:
    return (
        environment.event_keys.filter(public_id=public_id)
        .select_related("environment__organization")
        .first()
    )


def event_key_for_secret(secret: str) -> EventKey | None:
    """The key this secret belongs to, found by its hash (no scan, no early-exit compare)."""
    digest = token_hash(secret)
    # key_hash is unique: no ordering (.first()) needed on this per-event path.
    event_key = next(
        iter(
            EventKey.objects.filter(key_hash=digest).select_related("environment__organization")[:1]
        ),
        None,
    )
    if event_key is None or not hmac.compare_digest(event_key.key_hash, digest):
        return None
    return event_key


def signing_keys_of(environment: Environment) -> list[SigningKey]:
    return sorted(environment.signing_keys.all(), key=lambda k: _STATE_ORDER[k.state])


def signing_key_in_environment(*, environment: Environment, public_id: str) -> SigningKey | None:
    return (
        environment.signing_keys.filter(public_id=public_id)
        .select_related("environment__organization")
        .first()
    )


def active_signing_key(environment: Environment) -> str:
    """The key the server signs requests to this environment's apps with, in clear."""
    signing_key = environment.signing_keys.get(state=SigningKeyState.ACTIVE)
    return crypto.decrypt(signing_key.encrypted_key)


# Signing keys in clear, by (key id, ciphertext): the engine signs every SDK call, and decrypting
# on each one was a measurable share of a step's CPU. The rows are still read on every call, so
# a rotation or revocation takes effect at once; a re-encrypted or replaced key has another
# ciphertext, so it is never served stale. Per process, a short TTL, bounded.
_CLEAR_TTL_SECONDS = 60.0
_CLEAR_MAX = 256
_clear_lock = threading.Lock()
_clear: dict[tuple[int, str], tuple[float, str]] = {}


def _in_clear(pk: int, encrypted_key: str) -> str:
    now = time.monotonic()
    with _clear_lock:
        hit = _clear.get((pk, encrypted_key))
        if hit is not None and hit[0] > now:
            return hit[1]
    key = crypto.decrypt(encrypted_key)
    with _clear_lock:
        if len(_clear) >= _CLEAR_MAX:
            for stale in [k for k, (until, _) in _clear.items() if until <= now] or list(_clear):
                del _clear[stale]
        _clear[(pk, encrypted_key)] = (now + _CLEAR_TTL_SECONDS, key)
    return key


def signing_keys_clear_cache() -> None:
    """Forget every key held in clear (key rotation of ENCRYPTION_KEY, tests)."""
    with _clear_lock:
        _clear.clear()


# Read before every call to the app: written out, as compiling it cost more than running it.
_KEYS_SQL = "SELECT id, state, encrypted_key FROM {key} WHERE environment_id = %s"


def signing_keys_in_clear(environment: Environment) -> tuple[str, list[str]]:
    """The active key and every key an app may sign with (active first), in one query."""
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_SQL.format(key=SigningKey._meta.db_table), [environment.pk])
        rows = sorted(cursor.fetchall(), key=lambda row: _STATE_ORDER[row[1]])
    keys = [(state, _in_clear(pk, encrypted)) for pk, state, encrypted in rows]
    return next(key for state, key in keys if state == SigningKeyState.ACTIVE), [
        key for _, key in keys
    ]


def verification_signing_keys(environment: Environment) -> list[str]:
    """Keys an app of this environment may legitimately sign with, active first."""
    return [crypto.decrypt(k.encrypted_key) for k in signing_keys_of(environment)]


def environment_for_bearer(token: str) -> Environment | None:
    """Which environment an SDK's `Authorization: Bearer` token belongs to (PROTOCOL.md 3.5).

    Accepts the hashed key with or without the `signkey-<env>-` prefix, or the plaintext key,
    for the active, next or fallback key of an environment.
    """
    if not token:
        return None
    lookups = [
        hashlib.sha256(candidate.encode()).hexdigest() for candidate in bearer_candidates(token)
    ]
    signing_key = (
        SigningKey.objects.filter(bearer_lookup__in=lookups)
        .select_related("environment__organization")
        .first()
    )
    return signing_key.environment if signing_key else None


def api_keys_of(environment: Environment) -> list[ApiKey]:
    """Live keys first (newest first), then revoked ones."""
    return list(
        environment.api_keys.order_by("revoked_at", "-created_at").select_related("created_by")
    )


def api_key_in_environment(*, environment: Environment, public_id: str) -> ApiKey | None:
    return (
        environment.api_keys.filter(public_id=public_id)
        .select_related("environment__organization")
        .first()
    )


def api_key_for_secret(secret: str) -> ApiKey | None:
    """The key this secret belongs to, revoked or expired ones included (the caller says why it
    refuses them), found by its hash."""
    digest = token_hash(secret)
    api_key = (
        ApiKey.objects.filter(key_hash=digest).select_related("environment__organization").first()
    )
    if api_key is None or not hmac.compare_digest(api_key.key_hash, digest):
        return None
    return api_key
