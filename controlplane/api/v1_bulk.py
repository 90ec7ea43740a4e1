"""Bulk cancel and bulk replay over the REST API: Inngest's `/v1/cancellations` (body
`{app_id?, function_id, started_after, started_before, if?}`) and, in the same style,
`/v1/replays` (adding `name`, `statuses` and `pace`). Both answer the action with its progress;
DELETE stops it."""

from django.urls import path

from controlplane.api.v1_base import (
    PAGE_PARAMS,
    ApiError,
    iso,
    item_response,
    json_object_body,
    list_response,
    page_cursor,
    page_limit,
    parse_time,
    v1_endpoint,
)
from controlplane.bulk.models import BulkAction, BulkKind
from controlplane.bulk.selectors import bulk_action_in_environment, bulk_actions_page
from controlplane.bulk.services import (
    BulkRefused,
    bulk_action_create,
    bulk_action_stop,
    run_filter_build,
)
from controlplane.ids import is_ulid
from controlplane.registry.selectors import function_by_slug

_FIELDS = {
    BulkKind.CANCEL: {"app_id", "function_id", "name", "started_after", "started_before", "if"},
    BulkKind.REPLAY: {
        "app_id",
        "function_id",
        "name",
        "started_after",
        "started_before",
        "if",
        "statuses",
        "pace",
    },
}
_REQUIRED = {
    BulkKind.CANCEL: ("function_id", "started_after", "started_before"),
    BulkKind.REPLAY: ("function_id", "name", "statuses", "started_after", "started_before"),
}
_NAME_MAX = BulkAction._meta.get_field("name").max_length


def bulk_json(action: BulkAction) -> dict:
    data = {
        "id": action.public_id,
        "name": action.name,
        "app_id": action.function.app.app_id,
        "function_id": action.function.slug,
        "started_after": iso(action.started_after),
        "started_before": iso(action.started_before),
        "if": action.expression or None,
        "status": action.status,
        "note": action.note or None,
        "matched": action.matched,
        "processed": action.processed,
        "succeeded": action.succeeded,
        "created_by": action.created_by_label,
        "created_at": iso(action.created_at),
        "ended_at": iso(action.ended_at),
    }
    if action.kind == BulkKind.REPLAY:
        data |= {"statuses": action.statuses, "pace": action.pace}
    return data


def _string(body: dict, field: str, *, max_length: int | None = None) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str) or (max_length and len(value) > max_length):
        limit = f" of at most {max_length} characters" if max_length else ""
        raise ApiError(f"`{field}` must be a string{limit}.")
    return value


def _create(request, kind: str) -> BulkAction:
    """Parse and check the whole body before anything is written."""
    body = json_object_body(request)
    if unknown := sorted(set(body) - _FIELDS[kind]):
        allowed = ", ".join(sorted(_FIELDS[kind]))
        raise ApiError(f"Unknown field(s): {', '.join(unknown)}. Allowed: {allowed}.")
    if missing := [f for f in _REQUIRED[kind] if body.get(f) in (None, "")]:
        raise ApiError(f"Missing field(s): {', '.join(missing)}.")
    slug = _string(body, "function_id")
    function = function_by_slug(environment=request.environment, slug=slug)
    if function is None:
        raise ApiError(f"No function `{slug}` in this environment: send its slug (`<app>-<fn>`).")
    if (app_id := _string(body, "app_id")) and app_id != function.app.app_id:
        raise ApiError(f"The function `{slug}` is not in app `{app_id}`.")
    statuses = body.get("statuses")
    if statuses is not None and not (
        isinstance(statuses, list) and all(isinstance(s, str) for s in statuses)
    ):
        raise ApiError("`statuses` must be a list of `failed` and/or `cancelled`.")
    pace = body.get("pace")
    if pace is not None and (not isinstance(pace, int) or isinstance(pace, bool)):
        raise ApiError("`pace` must be a whole number of runs per second.")
    try:
        run_filter = run_filter_build(
            function=function,
            kind=kind,
            started_after=parse_time(body["started_after"], "started_after"),
            started_before=parse_time(body["started_before"], "started_before"),
            expression=_string(body, "if"),
            statuses=statuses,
        )
        return bulk_action_create(
            run_filter=run_filter,
            kind=kind,
            actor=None,
            actor_label=request.principal.label,
            name=_string(body, "name", max_length=_NAME_MAX),
            pace=pace,
        )
    except BulkRefused as refused:
        raise ApiError(str(refused)) from None


def _collection(request, kind: str):
    if request.method == "POST":
        return item_response(bulk_json(_create(request, kind)))
    actions, cursor = bulk_actions_page(
        environment=request.environment,
        kind=kind,
        after=page_cursor(request),
        limit=page_limit(request),
    )
    return list_response([bulk_json(a) for a in actions], cursor=cursor)


def _item(request, kind: str, action_id: str):
    if not is_ulid(action_id):
        raise ApiError("The id must be a ULID.")
    action = bulk_action_in_environment(
        environment=request.environment, public_id=action_id.upper(), kind=kind
    )
    if action is None:
        raise ApiError("Not found.", 404)
    if request.method == "DELETE":
        bulk_action_stop(action=action, actor=None, actor_label=request.principal.label)
        action.refresh_from_db()
    return item_response(bulk_json(action))


@v1_endpoint(GET=False, POST=True, query=PAGE_PARAMS)
def cancellations(request):
    """List bulk cancellations (newest first), or start one."""
    return _collection(request, BulkKind.CANCEL)


@v1_endpoint(GET=False, DELETE=True)
def cancellation(request, cancellation_id):
    """A bulk cancellation with its progress; DELETE stops it (runs cancelled stay cancelled)."""
    return _item(request, BulkKind.CANCEL, cancellation_id)


@v1_endpoint(GET=False, POST=True, query=PAGE_PARAMS)
def replays(request):
    """List bulk replays (newest first), or start one."""
    return _collection(request, BulkKind.REPLAY)


@v1_endpoint(GET=False, DELETE=True)
def replay(request, replay_id):
    """A bulk replay with its progress; DELETE stops it: no further replay starts."""
    return _item(request, BulkKind.REPLAY, replay_id)


urlpatterns = [
    path("v1/cancellations", cancellations, name="v1-cancellations"),
    path("v1/cancellations/<str:cancellation_id>", cancellation, name="v1-cancellation"),
    path("v1/replays", replays, name="v1-replays"),
    path("v1/replays/<str:replay_id>", replay, name="v1-replay"),
]
