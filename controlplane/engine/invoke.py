"""Invoking a function: a run started by an `inngest/function.invoked` event rather than by a
trigger (step.invoke from another run, or the REST API)."""

from django.db import transaction

from controlplane.engine.create import run_create
from controlplane.events.meta import SESSION_LAYERS, meta_resolve
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.registry.models import Function
from controlplane.runs.models import Run

INVOKED_EVENT = "inngest/function.invoked"


def invoked_event(
    *, function_slug: str, data: dict, v: str | None = None, meta=None, **inngest
) -> dict:
    """The event payload an invoked run gets: the caller's data plus `_inngest.fn_id` and, for
    step.invoke, where the call came from (`correlation_id`, `source_fn_id`, ...), and the
    payload's `meta` with its sessions folded in as at ingest (Go's invoke does the same)."""
    event = {
        "name": INVOKED_EVENT,
        "data": {**data, "_inngest": {"fn_id": function_slug, **inngest}},
        "meta": _invoked_meta(meta),
    }
    if v:
        event["v"] = v
    return event


def _invoked_meta(meta) -> dict:
    """Go fails the invoking step over sessions it cannot carry; here the invoke goes ahead
    without them (an SDK checks its own before sending: this is for hand-written payloads)."""
    if not isinstance(meta, dict):
        return {}
    try:
        return meta_resolve(meta)
    except ValueError:
        return {key: value for key, value in meta.items() if key not in SESSION_LAYERS}


def function_invoke(*, function: Function, data: dict, user: dict | None = None) -> Run:
    """Start a run of `function` now with `data`, whatever its triggers.

    Side effects, in one transaction: the invoked event (source API), the queued run and its
    first job (sent to the backend on commit).
    """
    payload = invoked_event(function_slug=function.slug, data=data)
    if user:
        payload["user"] = user
    with transaction.atomic():
        [ingested] = events_ingest(
            environment=function.environment, payloads=[payload], source=EventSource.API
        )
        return run_create(function=function, events=[ingested.event])
