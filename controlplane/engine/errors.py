"""Errors as Inngest hands them to SDK code: a run's error, the `data.error` of
`inngest/function.failed` / `.finished` / `.cancelled`, and a step error the engine writes itself
(an invoke that timed out, an opcode this server does not support). Pure.

The shape is Go's `StandardError` (pkg/execution/state/driver_response.go):
`{"error", "name", "message", "stack"?}`; `onFailure` handlers and code that catches a StepError
read `name` and `message`, and Inngest's UI shows `error`.
"""

from typing import Any

DEFAULT_NAME = "Error"
DEFAULT_MESSAGE = "Function execution error"


def standard_error(
    name: str, message: str, *, error: str | None = None, stack: Any = None, cause: Any = None
) -> dict:
    """An error in Inngest's shape. `error` is the one-line summary (Go: the driver's error,
    e.g. "invalid status code: 500"); it defaults to "<name>: <message>"."""
    shaped = {"error": error or f"{name}: {message}", "name": name, "message": message}
    if stack:
        shaped["stack"] = stack
    if cause is not None:
        shaped["cause"] = cause
    return shaped


def app_error(status: int, body: Any, raw_text: str) -> dict:
    """What an app's non-2xx answer becomes: the SDK's error object (Python
    `{"code", "message", "name", "stack"}`, TS `{"name", "message", "stack", "__serialized"}`)
    in Inngest's shape, with `error` naming the status as Go does."""
    summary = f"invalid status code: {status}"
    if not isinstance(body, dict) or not ("message" in body or "name" in body):
        return standard_error(
            "HTTPError", f"The app answered {status}: {raw_text[:1000]}", error=summary
        )
    name = body.get("name") if isinstance(body.get("name"), str) and body["name"] else DEFAULT_NAME
    message = body.get("message")
    if not isinstance(message, str) or not message:
        message = DEFAULT_MESSAGE
    return standard_error(
        name, message, error=summary, stack=body.get("stack"), cause=body.get("cause")
    )
