"""The REST API's OpenAPI 3.1 document, served at /v1/openapi.json and shown in the dashboard.

Hand-written, and kept true by tests: every /v1 route must be documented here, and every
response the API tests receive is validated against its schema (`operationId` = URL name).
"""

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.http import require_GET

from controlplane.api.v1_base import DEFAULT_LIMIT, MAX_LIMIT


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict, optional: dict | None = None) -> dict:
    """A closed object: new fields must be documented before the API may send them."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


_STRING, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_ANY_OBJECT = {"type": "object"}
_ERROR_OBJECT = {"type": ["object", "null"], "description": "The error as the SDK reported it."}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _ok(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _item(schema_name: str) -> dict:
    return _object({"data": _ref(schema_name), "metadata": _ref("Metadata")})


def _list(schema_name: str) -> dict:
    return _object(
        {
            "data": {"type": "array", "items": _ref(schema_name)},
            "metadata": _ref("Metadata"),
            "cursor": {
                "type": ["string", "null"],
                "description": "Send as `cursor` for the next page; null on the last page.",
            },
            "has_more": _BOOL,
        }
    )


def _path_param(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _query(name: str, description: str, schema: dict) -> dict:
    # An empty value means "not given", as in Inngest's API (`?cursor=` is the first page).
    return {
        "name": name,
        "in": "query",
        "required": False,
        "allowEmptyValue": True,
        "description": description,
        "schema": schema,
    }


_PAGE = [
    _query(
        "limit",
        f"Items per page (default {DEFAULT_LIMIT}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    _query("cursor", "The `cursor` of the previous page.", _STRING),
]
_RUN_ID = _path_param("run_id", "The run's id (a ULID).")
_EVENT_ID = _path_param("event_id", "The event's `internal_id` (a ULID).")


def _operation(operation_id: str, summary: str, ok: dict, *, write=False, params=(), body=None):
    responses = {
        "200": ok,
        "400": _error("Bad parameters or body."),
        "401": _error("Missing, unknown, revoked or expired key."),
        "404": _error("No such object in the key's environment."),
    }
    if body:
        responses["413"] = _error(
            "The payload is larger than an event may be (EVENT_API_MAX_EVENT_BYTES)."
        )
    if write:
        responses["403"] = _error("A read-only API key cannot do this.")
        responses["409"] = _error("The environment or function cannot start runs now.")
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": list(params),
        "responses": responses,
    }
    if body:
        operation["requestBody"] = body
    return operation


_RUN_FIELDS = {
    "run_id": _STRING,
    "status": {"enum": ["Running", "Completed", "Failed", "Cancelled"]},
    "output": {"description": "The result (Completed) or the error (Failed, Cancelled)."},
    "function_id": _STRING,
    "event_id": _STRING,
    "run_started_at": _NULLABLE_TIME,
    "ended_at": _NULLABLE_TIME,
}

_REPLAYABLE = {"enum": ["failed", "cancelled"]}
_BULK_FIELDS = {
    "id": _STRING,
    "name": _STRING,
    "app_id": _STRING,
    "function_id": {"type": "string", "description": "The function's slug (`<app>-<fn>`)."},
    "started_after": _TIME,
    "started_before": _TIME,
    "if": {"type": ["string", "null"], "description": "CEL over `event`, the trigger event."},
    "status": {"enum": ["running", "stopped", "completed"]},
    "note": {"type": ["string", "null"], "description": "Why it stopped."},
    "matched": {"type": "integer", "description": "Runs that matched when it was created."},
    "processed": {"type": "integer", "description": "Matching runs handled so far."},
    "succeeded": {"type": "integer", "description": "Runs cancelled (or replayed) so far."},
    "created_by": _STRING,
    "created_at": _TIME,
    "ended_at": _NULLABLE_TIME,
}

_SCHEMAS = {
    "Error": _object({"error": _STRING, "status": _INT}),
    "Metadata": _object({"fetched_at": _TIME, "cached_until": _NULLABLE_TIME}),
    "Event": _object(
        {
            "internal_id": _STRING,
            "id": {"type": "string", "description": "The sender's id, or `internal_id`."},
            "name": _STRING,
            "data": _ANY_OBJECT,
            "user": _ANY_OBJECT,
            "ts": {"type": "integer", "description": "Milliseconds since the epoch."},
            "v": {"type": ["string", "null"]},
            "meta": {
                "type": "object",
                "description": "The sender's `meta`, e.g. `sessions`; `{}` when none.",
            },
            "received_at": _TIME,
            "source": {"enum": ["api", "dashboard", "internal"]},
        }
    ),
    "Run": _object(
        _RUN_FIELDS,
        {  # a single run's answer (not a list's) links the runs its defers started, and back
            "defers": {"type": "array", "items": _ref("Defer")},
            "deferred_from": {
                "type": ["string", "null"],
                "description": "The run whose defer started this one.",
            },
            "metadata": {"type": "array", "items": _ref("RunMetadata")},
        },
    ),
    "RunMetadata": _object(
        {
            "scope": {
                "enum": ["run", "step", "extended_trace"],
                "description": "The run, one of its steps, or a span under a step.",
            },
            "step_id": {"type": ["string", "null"], "description": "The hashed step id."},
            "step_name": {"type": ["string", "null"], "description": "The step's own id."},
            "span_id": {"type": ["string", "null"]},
            "kind": {
                "type": "string",
                "description": "`userland.<kind>` as the app named it, `inngest.score` (each "
                'value `{"value": <number or boolean>}`), `inngest.ai` (model, tokens, '
                "latency of the step's AI calls), `inngest.warnings`, ...",
            },
            "values": _ANY_OBJECT,
            "attempt": {"type": ["integer", "null"], "description": "Of the last update."},
            "updated_at": _TIME,
        }
    ),
    "Defer": _object(
        {
            "id": {"type": "string", "description": "The SDK's hashed id of the defer."},
            "name": _STRING,
            "function_id": {"type": "string", "description": "The deferred function's slug."},
            "status": {"enum": ["after_run", "aborted", "rejected", "scheduled"]},
            "reason": {"type": ["string", "null"], "description": "Why it was rejected."},
            "run_id": {"type": ["string", "null"], "description": "The run it started."},
        }
    ),
    "Replay": _object(
        _RUN_FIELDS | {"replay_of": {"type": "string", "description": "The run replayed."}}
    ),
    "Attempt": _object(
        {
            "attempt": {"type": "integer", "minimum": 0, "description": "0 is the first try."},
            "status": {"enum": ["errored", "failed", "completed"]},
            "error": _ERROR_OBJECT,
            "at": _TIME,
        }
    ),
    "Step": _object(
        {
            "step_id": {"type": "string", "description": "The SDK's hashed step id."},
            "name": {"type": "string", "description": "The id the code gave the step."},
            "kind": {"enum": ["run", "sleep", "waitForEvent", "invoke", "sendEvent"]},
            "status": {
                "enum": ["Planned", "Sleeping", "Waiting", "Invoking", "Completed", "Failed"]
            },
            "attempts": {"type": "array", "items": _ref("Attempt")},
            "output": {"description": "The step's result once completed, else null."},
            "error": _ERROR_OBJECT,
            "started_at": _TIME,
            "ended_at": _NULLABLE_TIME,
        }
    ),
    "Trigger": _object(
        {"type": {"enum": ["event", "cron"]}, "value": _STRING},
        {"expression": {"type": ["string", "null"]}},
    ),
    "Function": _object(
        {
            "id": _STRING,
            "slug": {"type": "string", "description": "The id runs name it by: `<app>-<fn>`."},
            "name": _STRING,
            "app_id": _STRING,
            "version": _INT,
            "triggers": {"type": "array", "items": _ref("Trigger")},
            "config": _ANY_OBJECT,
            "paused": _BOOL,
            "created_at": _TIME,
        }
    ),
    "Invocation": _object({"run_id": _STRING, "event_id": _STRING}),
    "Pause": _object({"function": _ref("Function"), "cancelled_runs": _INT}),
    "SkippedReplay": _object({"runs_started": _INT}),
    "Cancellation": _object(_BULK_FIELDS),
    "BulkReplay": _object(
        _BULK_FIELDS
        | {
            "statuses": {"type": "array", "items": _REPLAYABLE},
            "pace": {"type": "integer", "description": "Replays started per second, at most."},
        }
    ),
}

_PAUSE_BODY = {
    "required": False,
    "content": {"application/json": {"schema": _object({}, {"cancel_running": _BOOL})}},
}

_INVOKE_BODY = {
    "required": False,
    "content": {
        "application/json": {"schema": _object({}, {"data": _ANY_OBJECT, "user": _ANY_OBJECT})}
    },
}

_BULK_BODY = {
    "app_id": {"type": "string", "description": "Optional: the function's app, as a check."},
    "function_id": {"type": "string", "description": "The function's slug (`<app>-<fn>`)."},
    "started_after": {**_TIME, "description": "Runs queued at or after this time."},
    "started_before": {**_TIME, "description": "Runs queued before this time."},
    "if": {"type": ["string", "null"], "description": "CEL over `event`: only matching runs."},
}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_CANCELLATION_BODY = _body(
    _object(
        {k: _BULK_BODY[k] for k in ("function_id", "started_after", "started_before")},
        {
            "app_id": _BULK_BODY["app_id"],
            "if": _BULK_BODY["if"],
            "name": {"type": ["string", "null"], "maxLength": 200},
        },
    )
)
_REPLAY_BODY = _body(
    _object(
        {
            "function_id": _BULK_BODY["function_id"],
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "statuses": {"type": "array", "items": _REPLAYABLE, "minItems": 1},
            "started_after": _BULK_BODY["started_after"],
            "started_before": _BULK_BODY["started_before"],
        },
        {
            "app_id": _BULK_BODY["app_id"],
            "if": _BULK_BODY["if"],
            "pace": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
        },
    )
)


def _bulk_paths(plural: str, noun: str, schema: str, body: dict) -> dict:
    """`/v1/<plural>` (list, create) and `/v1/<plural>/{id}` (get, stop) of one bulk kind."""
    id_param = _path_param(f"{noun}_id", f"The {noun}'s id (a ULID).")
    return {
        f"/v1/{plural}": {
            "get": _operation(
                f"v1-{plural}",
                f"List bulk {plural}",
                _ok("Newest first, with their progress.", _list(schema)),
                params=_PAGE,
            ),
            "post": _operation(
                f"v1-{noun}-create",
                f"Start a bulk {noun}",
                _ok("Started: it proceeds in the background.", _item(schema)),
                write=True,
                body=body,
            ),
        },
        f"/v1/{plural}/{{{noun}_id}}": {
            "get": _operation(
                f"v1-{noun}",
                f"Get a bulk {noun}",
                _ok("Its progress.", _item(schema)),
                params=[id_param],
            ),
            "delete": _operation(
                f"v1-{noun}-stop",
                f"Stop a bulk {noun}",
                _ok("Stopped (or as it had already ended).", _item(schema)),
                write=True,
                params=[id_param],
            ),
        },
    }


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "REST API",
        "version": "1",
        "description": (
            "Inngest's REST API v1 for this server's environments. Authenticate with "
            "`Authorization: Bearer <key>`: the environment's signing key (full access) or an "
            "API key created in the dashboard (read only, or read and write). Lists are newest "
            'first and paginated by `cursor`; errors are `{"error": ..., "status": ...}`.'
        ),
    },
    "security": [{"bearer": []}],
    "paths": {
        "/v1/events": {
            "get": _operation(
                "v1-events",
                "List events",
                _ok("Events, newest first.", _list("Event")),
                params=[
                    _query(
                        "name", "Only events of this name.", {"type": "string", "maxLength": 256}
                    ),
                    _query("received_after", "Received at or after this time.", _TIME),
                    _query("received_before", "Received before this time.", _TIME),
                    *_PAGE,
                ],
            )
        },
        "/v1/events/{event_id}": {
            "get": _operation(
                "v1-event", "Get an event", _ok("The event.", _item("Event")), params=[_EVENT_ID]
            )
        },
        "/v1/events/{event_id}/runs": {
            "get": _operation(
                "v1-event-runs",
                "List the runs an event started",
                _ok("One run per function the event triggered.", _list("Run")),
                params=[_EVENT_ID],
            )
        },
        "/v1/runs/{run_id}": {
            "get": _operation(
                "v1-run", "Get a run", _ok("The run.", _item("Run")), params=[_RUN_ID]
            ),
            "delete": _operation(
                "v1-run-cancel",
                "Cancel a run",
                _ok("The run, cancelled (or as it had already finished).", _item("Run")),
                write=True,
                params=[_RUN_ID],
            ),
        },
        "/v1/runs/{run_id}/replay": {
            "post": _operation(
                "v1-run-replay",
                "Replay a finished run",
                _ok("The new run, of the same function with the same events.", _item("Replay")),
                write=True,
                params=[_RUN_ID],
            )
        },
        "/v1/runs/{run_id}/steps": {
            "get": _operation(
                "v1-run-steps",
                "List a run's steps",
                _ok("Steps in the order they first appeared, with their attempts.", _list("Step")),
                params=[_RUN_ID, *_PAGE],
            )
        },
        "/v1/apps/{app_id}/functions": {
            "get": _operation(
                "v1-app-functions",
                "List an app's functions",
                _ok("The app's live functions, oldest first.", _list("Function")),
                params=[_path_param("app_id", "The app's id (its SDK `appName`)."), *_PAGE],
            )
        },
        "/v1/functions/{function_id}/invoke": {
            "post": _operation(
                "v1-function-invoke",
                "Invoke a function",
                _ok(
                    "The run started, and its `inngest/function.invoked` event.",
                    _item("Invocation"),
                ),
                write=True,
                params=[_path_param("function_id", "The function's slug (`<app>-<fn>`).")],
                body=_INVOKE_BODY,
            )
        },
        "/v1/functions/{function_id}/pause": {
            "post": _operation(
                "v1-function-pause",
                "Pause a function",
                _ok(
                    "Paused: events that would start a run are recorded as skipped.", _item("Pause")
                ),
                write=True,
                params=[_path_param("function_id", "The function's slug (`<app>-<fn>`).")],
                body=_PAUSE_BODY,
            )
        },
        "/v1/functions/{function_id}/resume": {
            "post": _operation(
                "v1-function-resume",
                "Resume a paused function",
                _ok("The function starts runs again.", _item("Function")),
                write=True,
                params=[_path_param("function_id", "The function's slug (`<app>-<fn>`).")],
            )
        },
        "/v1/functions/{function_id}/skipped/replay": {
            "post": _operation(
                "v1-function-skipped-replay",
                "Replay the events skipped while paused",
                _ok("One run started per skipped event.", _item("SkippedReplay")),
                write=True,
                params=[_path_param("function_id", "The function's slug (`<app>-<fn>`).")],
            )
        },
        **_bulk_paths("cancellations", "cancellation", "Cancellation", _CANCELLATION_BODY),
        **_bulk_paths("replays", "replay", "BulkReplay", _REPLAY_BODY),
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": _SCHEMAS,
    },
}


@require_GET
def openapi_document(request):
    return JsonResponse(DOCUMENT)


urlpatterns = [path("v1/openapi.json", openapi_document, name="v1-openapi")]
