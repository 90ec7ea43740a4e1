"""Emitting internal events and what they set off, until nothing more happens."""

from collections import defaultdict

from django.db import transaction

from controlplane.engine.effects import Effects
from controlplane.engine.reactions import react
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.observability.hooks import events_received


def settle(fx: Effects) -> None:
    """Store the internal events queued on `fx` and react to them; reactions may queue more."""
    while fx.events:
        queued, fx.events = fx.events, []
        by_env = defaultdict(list)
        for environment, payload in queued:
            by_env[environment].append(payload)
        for environment, payloads in by_env.items():
            ingested = events_ingest(
                environment=environment, payloads=payloads, source=EventSource.INTERNAL
            )
            react([i.event for i in ingested if i.created], fx=fx)


def events_accept(*, environment, payloads: list[dict], source: str, event_key=None, id_seed=None):
    """The one way events enter: store them and start, resume or cancel runs, in one transaction.

    The Event API, the dashboard's test events and cron fires all come through here.
    """
    with transaction.atomic():
        ingested = events_ingest(
            environment=environment,
            payloads=payloads,
            source=source,
            event_key=event_key,
            id_seed=id_seed,
        )
        fx = Effects()
        react([i.event for i in ingested if i.created], fx=fx)
        settle(fx)
    events_received(source=source, count=sum(i.created for i in ingested))
    return ingested
