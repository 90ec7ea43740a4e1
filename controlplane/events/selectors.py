"""Reads for the event log. Every query goes through the environment and matches an index of
Event.Meta: (environment, -received_at, -id) and (environment, name, -received_at, -id)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from controlplane.events.models import Event
from controlplane.tenancy.models import Environment

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    # The public id to pass as `after` for the next (older) page; None on the last page.
    next_after: str | None


def events_page(
    *,
    environment: Environment,
    name: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    after: str | None = None,
    limit: int = PAGE_SIZE,
) -> EventPage:
    """Newest first, keyset-paginated on (received_at, id), never OFFSET: `after` is the last
    event of the previous page, so page 1,000 costs what page 1 does. An `after` that is not
    an event of this environment is ignored."""
    events = environment.events.select_related("event_key")
    if name:
        events = events.filter(name=name)
    if since:
        events = events.filter(received_at__gte=since)
    if until:
        events = events.filter(received_at__lt=until)
    row = after and environment.events.filter(public_id=after).values("received_at", "id").first()
    if row:
        # `received_at <= r` bounds the index range; the exclusion only skips rows at r itself.
        events = events.filter(received_at__lte=row["received_at"]).exclude(
            received_at=row["received_at"], id__gte=row["id"]
        )
    rows = list(events.order_by("-received_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(events=rows, next_after=rows[-1].public_id if more else None)


def event_in_environment(*, environment: Environment, public_id: str) -> Event | None:
    return environment.events.filter(public_id=public_id).select_related("event_key").first()


def event_names_recent(*, environment: Environment, hours: int = 24) -> list[dict]:
    """Names received in the last `hours`, busiest first: name, count, last_received_at."""
    since = timezone.now() - timedelta(hours=hours)
    return list(
        environment.events.filter(received_at__gte=since)
        .values("name")
        .annotate(count=Count("id"), last_received_at=Max("received_at"))
        .order_by("-count", "name")
    )
