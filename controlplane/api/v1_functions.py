"""The REST API's function endpoints: list an app's functions (Inngest's
`GET /v1/apps/{app}/functions`) and invoke one with a payload."""

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
    v1_endpoint,
)
from controlplane.engine.invoke import function_invoke
from controlplane.flow.services import function_pause, function_resume, skipped_replay
from controlplane.registry.models import Function
from controlplane.registry.selectors import app_by_app_id, function_by_slug, functions_page


def function_json(function: Function) -> dict:
    triggers = [
        {"type": "cron", "value": t.cron}
        if t.cron
        else {"type": "event", "value": t.event_name, "expression": t.expression or None}
        for t in function.triggers.all()
    ]
    return {
        "id": function.public_id,
        "slug": function.slug,
        "name": function.name,
        "app_id": function.app.app_id,
        "version": function.version,
        "triggers": triggers,
        "config": function.config,
        "paused": function.paused_at is not None,
        "created_at": iso(function.created_at),
    }


@v1_endpoint(GET=False, query=PAGE_PARAMS)
def app_functions(request, app_id):
    app = app_by_app_id(environment=request.environment, app_id=app_id)
    if app is None:
        raise ApiError("App not found.", 404)
    functions, cursor = functions_page(
        app=app, after=page_cursor(request), limit=page_limit(request)
    )
    return list_response([function_json(f) for f in functions], cursor=cursor)


@v1_endpoint(POST=True)
def function_invoke_view(request, function_id):
    """Start a run now: body `{"data": {...}, "user": {...}}`, both optional. Answers the new
    run's id and the id of the `inngest/function.invoked` event that started it."""
    function = function_by_slug(environment=request.environment, slug=function_id)
    if function is None or function.removed_at is not None:
        raise ApiError("Function not found.", 404)
    body = json_object_body(request)
    unknown = sorted(set(body) - {"data", "user"})
    if unknown:
        raise ApiError(f"Unknown field(s): {', '.join(unknown)}. Send `data` and `user`.")
    for field in ("data", "user"):
        if not isinstance(body.get(field, {}), dict):
            raise ApiError(f"`{field}` must be a JSON object.")
    if request.environment.is_archived:
        raise ApiError("This environment is archived: it starts no runs.", 409)
    if not function.is_active:
        raise ApiError("This function is paused or its app is archived: it starts no runs.", 409)
    run = function_invoke(function=function, data=body.get("data", {}), user=body.get("user"))
    return item_response({"run_id": run.public_id, "event_id": run.event.public_id})


def _live_function(request, function_id) -> Function:
    function = function_by_slug(environment=request.environment, slug=function_id)
    if function is None or function.removed_at is not None:
        raise ApiError("Function not found.", 404)
    return function


@v1_endpoint(POST=True)
def function_pause_view(request, function_id):
    """Pause: events that would start a run are recorded as skipped. Body
    `{"cancel_running": true}` also cancels its active runs."""
    function = _live_function(request, function_id)
    body = json_object_body(request)
    if unknown := sorted(set(body) - {"cancel_running"}):
        raise ApiError(f"Unknown field(s): {', '.join(unknown)}. Send `cancel_running`.")
    if not isinstance(body.get("cancel_running", False), bool):
        raise ApiError("`cancel_running` must be true or false.")
    cancelled = function_pause(
        function=function, actor=None, cancel_running=body.get("cancel_running", False)
    )
    function.refresh_from_db()
    return item_response({"function": function_json(function), "cancelled_runs": cancelled})


@v1_endpoint(POST=True)
def function_resume_view(request, function_id):
    function = _live_function(request, function_id)
    function_resume(function=function, actor=None)
    function.refresh_from_db()
    return item_response(function_json(function))


@v1_endpoint(POST=True)
def skipped_replay_view(request, function_id):
    """Start a run for every event skipped while the function was paused."""
    function = _live_function(request, function_id)
    if function.paused_at is not None:
        raise ApiError("Resume the function before replaying the events it skipped.", 409)
    return item_response({"runs_started": skipped_replay(function=function, actor=None)})


urlpatterns = [
    path("v1/apps/<str:app_id>/functions", app_functions, name="v1-app-functions"),
    path("v1/functions/<str:function_id>/invoke", function_invoke_view, name="v1-function-invoke"),
    path("v1/functions/<str:function_id>/pause", function_pause_view, name="v1-function-pause"),
    path("v1/functions/<str:function_id>/resume", function_resume_view, name="v1-function-resume"),
    path(
        "v1/functions/<str:function_id>/skipped/replay",
        skipped_replay_view,
        name="v1-function-skipped-replay",
    ),
]
