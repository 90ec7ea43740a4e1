"""An environment's event log: browse events, inspect one, send a test event, see names."""

import json

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render

from controlplane.engine.settle import events_accept
from controlplane.events.models import EventSource
from controlplane.events.selectors import (
    event_in_environment,
    event_names_recent,
    events_page,
)
from controlplane.events.validation import EventRejected, ensure_accepting, read_events
from controlplane.flow.selectors import skips_of_event
from controlplane.runs.selectors import runs_of_event
from controlplane.tenancy.models import Role
from dashboard.decorators import environment_view
from dashboard.forms import EventFilterForm, EventSendForm

EXAMPLE_EVENT = {"name": "test/hello", "data": {"name": "world"}}


@environment_view()
def event_list(request):
    form = EventFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = events_page(
        environment=request.environment,
        name=filters.get("name", ""),
        since=filters.get("since"),
        until=filters.get("until"),
        after=request.GET.get("after") or None,
    )
    query = request.GET.copy()
    query.pop("after", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "paged": "after" in request.GET,
    }
    template = "dashboard/events.html#event-list" if request.htmx else "dashboard/events.html"
    return render(request, template, context)


@environment_view()
def event_detail(request, event_id):
    event = event_in_environment(environment=request.environment, public_id=event_id)
    if event is None:
        raise Http404("No such event.")
    payload = json.dumps(event.as_sdk_payload(), indent=2, ensure_ascii=False)
    runs = runs_of_event(environment=request.environment, event=event)
    context = {"event": event, "payload": payload, "runs": runs, "skips": skips_of_event(event)}
    return render(request, "dashboard/event_detail.html", context)


@environment_view()
def event_send(request):
    """Members and above send events through the same validation and storage as the API."""
    can_send = request.membership.allows(Role.MEMBER)
    sent = None
    if request.method == "POST":
        if not can_send:
            raise PermissionDenied("Sending events needs the member role or higher.")
        form = EventSendForm(request.POST)
        if form.is_valid():
            try:
                ensure_accepting(request.environment)
                payloads = read_events(form.cleaned_data["payload"].encode())
            except EventRejected as exc:
                form.add_error("payload", exc.message)
            else:
                ingested = events_accept(
                    environment=request.environment,
                    payloads=payloads,
                    source=EventSource.DASHBOARD,
                )
                sent = [item.event for item in ingested]
    else:
        form = EventSendForm(initial={"payload": json.dumps(EXAMPLE_EVENT, indent=2)})
    context = {"form": form, "sent": sent, "can_send": can_send}
    template = (
        "dashboard/event_send.html#send-form" if request.htmx else "dashboard/event_send.html"
    )
    return render(request, template, context)


@environment_view()
def event_names(request):
    names = event_names_recent(environment=request.environment)
    return render(request, "dashboard/event_names.html", {"names": names})
