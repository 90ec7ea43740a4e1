"""Writes for events: the one path every event is stored through (API, dashboard, engine)."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from controlplane.events.models import Event
from controlplane.ids import new_ulid, seeded_ulids
from controlplane.keys.models import EventKey
from controlplane.tenancy.models import Environment

IDEMPOTENCY_WINDOW = timedelta(hours=24)

# Advisory lock classes (the first argument of the two-int form), so other areas' locks
# cannot collide with these.
_LOCK_CLASS_ENVIRONMENT = 0x45560001
_LOCK_CLASS_KEY = 0x45560002
# Past this many keys a request locks its whole environment instead of key by key, so a
# 5,000-event batch does not fill PostgreSQL's lock table.
_MAX_KEY_LOCKS = 32


@dataclass(frozen=True)
class IngestedEvent:
    event: Event
    created: bool  # False: a duplicate, `event` is the original


def events_ingest(
    *,
    environment: Environment,
    payloads: list[dict],
    source: str,
    event_key: EventKey | None = None,
    id_seed: str | None = None,
) -> list[IngestedEvent]:
    """Store events, all or nothing; one IngestedEvent per payload, in order.

    Payloads are trusted dicts with `name` and optionally `data`, `id`, `ts`, `user`, `v`,
    `meta` (outside input goes through events.validation first; internal `inngest/` names are fine
    here). Duplicates are not stored again and answer the original event with created=False:
    an `id` seen in this environment within IDEMPOTENCY_WINDOW (or earlier in the same call),
    and, with `id_seed` (X-Inngest-Event-Id-Seed), an event whose seeded ULID already exists,
    which makes an SDK's retry of a request idempotent.

    Side effects: Event rows, in one transaction (a savepoint inside an outer one). On
    PostgreSQL it takes transaction-scoped advisory locks on the idempotency keys, so
    concurrent senders of the same ids queue instead of both inserting.
    """
    now = timezone.now()
    now_ms = int(now.timestamp() * 1000)
    seeded = seeded_ulids(id_seed, len(payloads)) if id_seed else None
    public_ids = seeded or [new_ulid(now_ms) for _ in payloads]
    external_ids = {p["id"] for p in payloads if p.get("id")}
    with transaction.atomic():
        _lock(environment, [id_seed] if seeded else [], external_ids)
        by_public_id, by_external_id = _existing(
            environment, seeded or [], external_ids, since=now - IDEMPOTENCY_WINDOW
        )
        results, new_events = [], []
        for payload, public_id in zip(payloads, public_ids, strict=True):
            original = by_public_id.get(public_id) or by_external_id.get(payload.get("id"))
            if original is not None:
                results.append(IngestedEvent(event=original, created=False))
                continue
            if public_id in by_public_id:  # a seeded id another environment already holds
                public_id = new_ulid(now_ms)
            event = _new_event(environment, payload, public_id, source, event_key, now, now_ms)
            new_events.append(event)
            results.append(IngestedEvent(event=event, created=True))
            if event.external_id:
                by_external_id[event.external_id] = event
        Event.objects.bulk_create(new_events)
    return results


def _new_event(environment, payload, public_id, source, event_key, now, now_ms) -> Event:
    return Event(
        public_id=public_id,
        environment=environment,
        name=payload["name"],
        data=payload.get("data") or {},
        external_id=payload.get("id") or "",
        ts=payload.get("ts") or now_ms,
        user=payload.get("user") or {},
        version=payload.get("v") or "",
        meta=payload.get("meta") or {},
        received_at=now,
        source=source,
        event_key=event_key,
    )


def _existing(environment, seeded: list[str], external_ids: set[str], *, since):
    """Events that make payloads duplicates: by public id (seeded retries) and by external id.

    A seeded id found in another environment maps to None: it is taken, but not a duplicate.
    """
    if not seeded and not external_ids:
        return {}, {}
    pks = _duplicate_candidates(environment, seeded, external_ids, since)
    seeded_set, by_public_id, by_external_id = set(seeded), {}, {}
    for event in Event.objects.filter(pk__in=pks).order_by("received_at", "id") if pks else ():
        mine = event.environment_id == environment.pk
        if event.public_id in seeded_set:
            by_public_id[event.public_id] = event if mine else None
        if mine and event.external_id in external_ids and event.received_at >= since:
            by_external_id.setdefault(event.external_id, event)
    return by_public_id, by_external_id


def _duplicate_candidates(environment, seeded, external_ids, since) -> list[int]:
    """Primary keys of the rows `_existing` needs, usually none. Plain SQL because it runs on
    nearly every API request (the SDKs always send a seed) and compiling the ORM query costs
    several times what running it does."""
    table = connection.ops.quote_name(Event._meta.db_table)
    conditions, params = [], []
    if seeded:
        conditions.append(f"public_id IN ({', '.join(['%s'] * len(seeded))})")
        params += seeded
    if external_ids:
        conditions.append(
            f"(environment_id = %s AND external_id IN ({', '.join(['%s'] * len(external_ids))})"
            " AND received_at >= %s)"
        )
        params += [environment.pk, *external_ids, since]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE {' OR '.join(conditions)}", params)
        return [row[0] for row in cursor.fetchall()]


def _lock(environment: Environment, seeds: list[str], external_ids: set[str]) -> None:
    """Serialize concurrent ingestion of the same idempotency keys (PostgreSQL only: SQLite
    transactions here are IMMEDIATE, so writers already queue)."""
    keys = [*seeds, *external_ids]
    if not keys or connection.vendor != "postgresql":
        return
    env_key = environment.pk % (1 << 31)
    with connection.cursor() as cursor:
        if len(keys) > _MAX_KEY_LOCKS:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS_ENVIRONMENT, env_key]
            )
            return
        # Shared on the environment (so a many-key request can exclude everyone), then each
        # key in sorted order (so two requests never wait on each other in a cycle).
        hashes = sorted({_key_hash(environment.pk, key) for key in keys})
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, %s)", [_LOCK_CLASS_ENVIRONMENT, env_key]
        )
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int[]) AS k",
            [_LOCK_CLASS_KEY, hashes],
        )


def _key_hash(environment_pk: int, key: str) -> int:
    digest = hashlib.blake2b(f"{environment_pk}:{key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)
