"""What every /v1 endpoint shares: authentication and method checks, errors, and the list shape.

Answers follow Inngest's REST API: one object is `{"data": {...}, "metadata": {...}}`; a list is
`{"data": [...], "metadata": {...}, "cursor": ..., "has_more": ...}`, where `cursor` is the
public id of the page's last item, to send back as `?cursor=` for the next page (null on the
last page). Ids are ULIDs, so pages are keyset ranges, never OFFSET.
"""

import json
from datetime import UTC, datetime
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from controlplane.api.auth import authenticate_v1
from controlplane.api.responses import error_response
from controlplane.events.validation import EventRejected, ensure_storable
from controlplane.ids import is_ulid

DEFAULT_LIMIT, MAX_LIMIT = 20, 100


class ApiError(Exception):
    """A request the endpoint refuses: answered as `{"error": message, "status": status}`."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


PAGE_PARAMS = ("limit", "cursor")


def v1_endpoint(*, query: tuple[str, ...] = (), **methods: bool):
    """Allow these methods, each marked as a write or not: `@v1_endpoint(GET=False, DELETE=True)`,
    and these query parameters (others are refused, so a typo is not silently ignored).

    The view runs with `request.environment` and `request.principal` set by `authenticate_v1`;
    it may raise ApiError.
    """

    def decorator(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = error_response("Method not allowed.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
                # Unquoted later, a NUL would reach the database, which refuses it.
                return error_response("The URL contains a NUL character.", 400)
            auth = authenticate_v1(request, write=methods[request.method])
            if isinstance(auth, JsonResponse):
                return auth
            if unknown := sorted(set(request.GET) - set(query)):
                allowed = ", ".join(query) or "none"
                return error_response(
                    f"Unknown query parameter(s): {', '.join(unknown)}. Allowed: {allowed}.", 400
                )
            if repeated := sorted(k for k, values in request.GET.lists() if len(values) > 1):
                # Each takes one value: which of several was meant is anyone's guess.
                return error_response(f"Given more than once: {', '.join(repeated)}.", 400)
            request.environment, request.principal = auth
            try:
                return view(request, *args, **kwargs)
            except ApiError as exc:
                return error_response(exc.message, exc.status)

        return wrapper

    return decorator


def _metadata() -> dict:
    # Answers come straight from the database: nothing is cached.
    return {"fetched_at": timezone.now().isoformat(), "cached_until": None}


def item_response(item: dict) -> JsonResponse:
    return JsonResponse({"data": item, "metadata": _metadata()})


def list_response(items: list[dict], *, cursor: str | None) -> JsonResponse:
    return JsonResponse(
        {"data": items, "metadata": _metadata(), "cursor": cursor, "has_more": cursor is not None}
    )


def page_limit(request) -> int:
    raw = request.GET.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(f"`limit` must be a whole number from 1 to {MAX_LIMIT}.")
    return int(raw)


def page_cursor(request) -> str | None:
    cursor = request.GET.get("cursor", "")
    if cursor == "":
        return None
    if not is_ulid(cursor):
        raise ApiError("`cursor` must be the `cursor` of a previous page.")
    return cursor.upper()


def time_param(request, name: str) -> datetime | None:
    """An RFC 3339 time from the query string (UTC when it names no offset)."""
    raw = request.GET.get(name, "")
    return None if raw == "" else parse_time(raw, name)


def parse_time(raw, name: str) -> datetime:
    """An RFC 3339 time (UTC when it names no offset), or ApiError naming the field."""
    try:
        value = parse_datetime(raw)
    except (ValueError, TypeError):  # a bad date, or not a string at all
        value = None
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (AttributeError, OverflowError):  # None, or a time UTC cannot hold (year 9999+14h)
        raise ApiError(f"`{name}` must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z.") from None


def json_object_body(request) -> dict:
    """The request body as a JSON object; an empty body is `{}`."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise ApiError("The request body is too large.", 413) from None
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
        if not isinstance(body, dict):
            raise ApiError("The request body must be a JSON object.")
        ensure_storable(body)  # a NUL or a lone surrogate would reach the database and fail there
    except RecursionError:
        raise ApiError("The request body nests too deeply.") from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError("The request body is not valid JSON.") from None
    except EventRejected as exc:
        raise ApiError(f"The request body cannot be stored: {exc.message}", exc.status) from None
    return body


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
