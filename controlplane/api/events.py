"""`POST /e/{event_key}`: the Event API the SDKs send events to (PROTOCOL.md 5).

Answers `{"ids": [...], "status": 200}` only after the events are committed; every refusal is
`{"error": ..., "status": ..., "ids": []}` and stores nothing. The body cap is enforced before
this view runs (api/body_limit.py).
"""

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from controlplane.api.responses import error_response
from controlplane.engine.settle import events_accept
from controlplane.events.models import EventSource
from controlplane.events.validation import EventRejected, ensure_accepting, read_events
from controlplane.keys.filters import address_allowed, event_name_allowed
from controlplane.keys.models import EventKey
from controlplane.keys.selectors import event_key_for_secret
from controlplane.keys.services import key_touch
from controlplane.tenancy.models import Environment
from controlplane.tenancy.selectors import environment_in_organization
from controlplane.tenancy.services import environment_ensure_dev_mode

# What the SDKs send in dev mode when no event key is configured.
DEV_MODE_KEY = "NO_EVENT_KEY_SET"


@csrf_exempt
def event_api(request, event_key: str):
    if request.method != "POST":
        return error_response("Send events with POST.", 405, ids=[])
    try:
        environment, key = _sender(request, event_key)
        ensure_accepting(environment)
        payloads = read_events(request.read())
        _check_filter(key, payloads)
    except EventRejected as exc:
        return error_response(exc.message, exc.status, ids=[])
    ingested = events_accept(
        environment=environment,
        payloads=payloads,
        source=EventSource.API,
        event_key=key,
        id_seed=request.headers.get("X-Inngest-Event-Id-Seed"),
    )
    if key is not None:
        key_touch(key)
    return JsonResponse({"ids": [item.event.public_id for item in ingested], "status": 200})


def _sender(request, secret: str) -> tuple[Environment, EventKey | None]:
    """The environment the events go to, and the key that sends them (None in dev mode)."""
    key = event_key_for_secret(secret)
    if key is None:
        # As on Inngest's dev server, the dev-mode environment takes events under any key no
        # environment has (apps post to /e/key, /e/test-key-123); X-Inngest-Env cannot move
        # them out of it. Without a dev-mode environment an unknown key is refused.
        if environment := environment_ensure_dev_mode():
            return environment, None
        if secret == DEV_MODE_KEY:
            raise EventRejected(
                "Event key not found: NO_EVENT_KEY_SET (SDK dev mode) is accepted only when "
                "this server has a dev-mode environment.",
                status=401,
            )
        raise EventRejected("Event key not found", status=401)
    if not key.enabled:
        raise EventRejected("This event key is disabled.", status=401)
    address = request.META.get("REMOTE_ADDR", "")
    if not address_allowed(networks=key.filter_networks, address=address):
        raise EventRejected(
            f"This event key does not accept events from {address or 'an unknown address'}.",
            status=403,
        )
    return _selected_environment(key, request.headers.get("X-Inngest-Env")), key


def _selected_environment(key: EventKey, requested: str | None) -> Environment:
    """The key's environment, or the one of its organization that `X-Inngest-Env` names."""
    own = key.environment
    if not requested or requested == own.slug:
        return own
    environment = environment_in_organization(organization=own.organization, slug=requested)
    if environment is None:
        raise EventRejected(
            f"X-Inngest-Env names no environment of this key's organization: “{requested}”.",
            status=400,
        )
    return environment


def _check_filter(key: EventKey | None, payloads: list[dict]) -> None:
    if key is None:
        return
    blocked = sorted(
        {
            p["name"]
            for p in payloads
            if not event_name_allowed(
                mode=key.filter_mode, names=key.filter_events, event_name=p["name"]
            )
        }
    )
    if blocked:
        shown = ", ".join(f"“{name}”" for name in blocked[:10])
        more = f" and {len(blocked) - 10} more" if len(blocked) > 10 else ""
        raise EventRejected(
            f"This event key's filter blocks {shown}{more}. Nothing was stored.", status=403
        )
