"""The REST API's event endpoints, in Inngest's v1 shapes (the runs of an event: v1_runs)."""

from django.urls import path

from controlplane.api.v1_base import (
    PAGE_PARAMS,
    ApiError,
    iso,
    item_response,
    list_response,
    page_cursor,
    page_limit,
    time_param,
    v1_endpoint,
)
from controlplane.events.models import Event
from controlplane.events.selectors import event_in_environment, events_page
from controlplane.ids import is_ulid


def event_json(event: Event) -> dict:
    """Inngest's event record: `internal_id` is the server's id, `id` the sender's (or ours)."""
    return {
        "internal_id": event.public_id,
        "id": event.external_id or event.public_id,
        "name": event.name,
        "data": event.data,
        "user": event.user,
        "ts": event.ts,
        "v": event.version or None,
        "meta": event.meta,
        "received_at": iso(event.received_at),
        "source": event.source,
    }


def event_or_error(request, event_id: str) -> Event:
    """The environment's event with this id; 400 for a malformed id, 404 for any other."""
    if not is_ulid(event_id):
        raise ApiError("The event id must be a ULID (the event's `internal_id`).")
    event = event_in_environment(environment=request.environment, public_id=event_id.upper())
    if event is None:
        raise ApiError("Event not found.", 404)
    return event


@v1_endpoint(GET=False, query=("name", "received_after", "received_before", *PAGE_PARAMS))
def event_list(request):
    """Newest first; filter by exact `name` and `received_after` (inclusive) /
    `received_before` (exclusive)."""
    name = request.GET.get("name", "")
    if len(name) > 256:
        raise ApiError("`name` is at most 256 characters.")
    since, until = time_param(request, "received_after"), time_param(request, "received_before")
    cursor = page_cursor(request)
    if cursor and event_in_environment(environment=request.environment, public_id=cursor) is None:
        raise ApiError("`cursor` names no event of this environment.")
    page = events_page(
        environment=request.environment,
        name=name,
        since=since,
        until=until,
        after=cursor,
        limit=page_limit(request),
    )
    return list_response([event_json(e) for e in page.events], cursor=page.next_after)


@v1_endpoint(GET=False)
def event_detail(request, event_id):
    return item_response(event_json(event_or_error(request, event_id)))


urlpatterns = [
    path("v1/events", event_list, name="v1-events"),
    path("v1/events/<str:event_id>", event_detail, name="v1-event"),
]
