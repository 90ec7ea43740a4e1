"""What senders may post as events: the Event API and the dashboard's test-event form.

Pure functions: bytes in, normalized payloads out, or an EventRejected that says what is wrong
and, for one event, at which index of the request. Limits follow Inngest's (PROTOCOL.md 5); the
size of one event is a setting, EVENT_API_MAX_EVENT_BYTES.
"""

import json
import re
import time

from django.conf import settings

from controlplane.events.meta import meta_resolve

MAX_EVENTS_PER_REQUEST = 5_000
MAX_NAME_LENGTH = 256  # Event.name
MAX_ID_LENGTH = 255  # Event.external_id
MAX_VERSION_LENGTH = 64  # Event.version
# ULIDs hold 48 bits of milliseconds; later timestamps are a sender's bug, not a date.
MAX_TS = (1 << 48) - 1
INTERNAL_PREFIX = "inngest/"

# PostgreSQL's jsonb cannot store NUL; an odd run of backslashes makes `\u0000` an escape.
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


class EventRejected(Exception):
    """Why a request (or its event at `index`) cannot be accepted; `status` is the HTTP code."""

    def __init__(self, message: str, *, status: int = 400, index: int | None = None):
        if index is not None:
            message = f"Event at index {index}: {message}"
        super().__init__(message)
        self.message = message
        self.status = status
        self.index = index


def read_events(body: bytes) -> list[dict]:
    """A request body as normalized events, or EventRejected: what both intake paths call."""
    return normalize_events(parse_events(body), now_ms=time.time_ns() // 1_000_000)


def ensure_accepting(environment) -> None:
    """Archived environments take no events from outside (API, dashboard)."""
    if environment.is_archived:
        raise EventRejected(
            f"The environment “{environment.name}” is archived: it accepts no events.",
            status=403,
        )


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_events(body: bytes) -> list:
    """The request body as a list of raw events (one object or an array of them)."""
    try:
        decoded = json.loads(body, parse_constant=_no_constants)
    except RecursionError:
        raise EventRejected("The body nests too deeply.") from None
    except UnicodeDecodeError:
        raise EventRejected("The body is not valid UTF-8.") from None
    except ValueError as exc:
        raise EventRejected(f"The body is not valid JSON: {exc}.") from None
    if isinstance(decoded, dict):
        return [decoded]
    if not isinstance(decoded, list):
        raise EventRejected("The body must be an event object or an array of event objects.")
    if not decoded:
        raise EventRejected("The body contains no events.")
    if len(decoded) > MAX_EVENTS_PER_REQUEST:
        raise EventRejected(
            f"A request may carry at most {MAX_EVENTS_PER_REQUEST} events, "
            f"this one has {len(decoded)}.",
            status=413,
        )
    return decoded


def normalize_events(raw: list, *, now_ms: int) -> list[dict]:
    """Each raw event checked and filled in: name, data, id, ts, user, v, meta (and nothing
    else)."""
    return [_normalize(item, index, now_ms) for index, item in enumerate(raw)]


def _optional(item: dict, field: str, kind: type, default, index: int, what: str):
    value = item.get(field)
    if value is None:
        return default
    if not isinstance(value, kind) or isinstance(value, bool):
        raise EventRejected(f"`{field}` must be {what}.", index=index)
    return value


def _normalize(item, index: int, now_ms: int) -> dict:
    if not isinstance(item, dict):
        raise EventRejected("an event must be a JSON object.", index=index)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise EventRejected("`name` is required and must be a non-empty string.", index=index)
    if len(name) > MAX_NAME_LENGTH:
        raise EventRejected(f"`name` is longer than {MAX_NAME_LENGTH} characters.", index=index)
    if name.startswith(INTERNAL_PREFIX):
        raise EventRejected(
            f"names starting with “{INTERNAL_PREFIX}” are reserved for internal events.",
            index=index,
        )
    data = dict(_optional(item, "data", dict, {}, index, "a JSON object"))
    # Only the server writes `_inngest` metadata (invocations); a sender's copy could forge one.
    data.pop("_inngest", None)
    external_id = _optional(item, "id", str, "", index, "a string")
    if len(external_id) > MAX_ID_LENGTH:
        raise EventRejected(f"`id` is longer than {MAX_ID_LENGTH} characters.", index=index)
    ts = _optional(item, "ts", int, 0, index, "an integer (milliseconds since the epoch)")
    if not 0 <= ts <= MAX_TS:
        raise EventRejected("`ts` is out of range (milliseconds since the epoch).", index=index)
    version = _optional(item, "v", str, "", index, "a string")
    if len(version) > MAX_VERSION_LENGTH:
        raise EventRejected(f"`v` is longer than {MAX_VERSION_LENGTH} characters.", index=index)
    event = {
        "name": name,
        "data": data,
        "id": external_id,
        "ts": ts or now_ms,
        "user": _optional(item, "user", dict, {}, index, "a JSON object"),
        "v": version,
        "meta": _meta(item, index),
    }
    _check_storable(event, index)
    return event


def _meta(item: dict, index: int) -> dict:
    try:
        return meta_resolve(_optional(item, "meta", dict, {}, index, "a JSON object"))
    except ValueError as exc:
        raise EventRejected(f"`meta`: {exc}", index=index) from None


def ensure_storable(payload: dict) -> None:
    """Refuse a payload the database cannot store (NUL, lone surrogates, infinities) or that is
    larger than an event may be, with EventRejected: for payloads that do not come as events."""
    _check_storable(payload, None)


def _check_storable(event: dict, index: int | None) -> None:
    try:
        text = json.dumps(event, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        size = len(text.encode())
    except UnicodeEncodeError:
        raise EventRejected("it contains an unpaired UTF-16 surrogate.", index=index) from None
    except ValueError:  # 1e400 parses as infinity, which JSON cannot carry back out
        raise EventRejected("it contains a number out of range.", index=index) from None
    limit = settings.EVENT_API_MAX_EVENT_BYTES
    if size > limit:
        raise EventRejected(
            f"the event is {size} bytes; at most {limit} (EVENT_API_MAX_EVENT_BYTES) are accepted.",
            status=413,
            index=index,
        )
    if _NUL_ESCAPE.search(text):
        raise EventRejected("it contains a NUL character (\\u0000).", index=index)
