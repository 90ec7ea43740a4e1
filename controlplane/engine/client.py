"""Calling a function's app over HTTP (PROTOCOL.md 4.1-4.2, 4.6-4.8, 4.11) and classifying the
answer: finished, step ops, or an error that is or is not worth retrying."""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from controlplane.engine import transport
from controlplane.engine.errors import app_error, standard_error
from controlplane.engine.protocol import Op, parse_ops, parse_time, unwrap_streamed
from controlplane.keys.signatures import canonical_body, sign_canonical_request, verify_response

MIN_RETRY_AFTER, MAX_RETRY_AFTER = timedelta(seconds=1), timedelta(hours=24)


@dataclass
class CallOutcome:
    kind: str  # "done" | "ops" | "error"
    ops: list[Op] = field(default_factory=list)
    output: Any = None
    error: dict | None = None
    retriable: bool = False
    retry_after: datetime | None = None
    sdk_version: int | None = None
    status: int | None = None


def step_url(function_url: str, step_id: str) -> str:
    """The function's registered URL with `stepId` set to this call's target."""
    parts = urlsplit(function_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "stepId"]
    query.append(("stepId", step_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def endpoint_call(request: dict, *, force_step_plan: bool) -> dict:
    """How a durable endpoint is called back (Inngest's httpv2 sync driver): as its caller
    called it, the route, method, query, body and content type of the request that started the
    run (`request`, the trigger's data). No execution payload: the SDK loads the run's state
    from /v0/runs/{id}/... . The signature covers the body as the SDK reads it, JSON in JCS."""
    url = request["domain"] + request["path"]
    if request["query_params"]:
        url += "?" + request["query_params"]
    body = request["body"].encode()
    try:
        payload = canonical_body(body)
    except ValueError:  # not JSON: the SDK signs what it reads
        payload = body
    headers = {
        "Content-Type": request["content_type"] or "application/json",
        # How the SDK tells a call back from the route's own callers, signed or not (dev mode).
        "X-Inngest-Signature": "",
    }
    if force_step_plan:  # several steps at once: plan them, as disable_immediate_execution does
        headers["X-Inngest-Force-Step-Plan"] = "true"
    return dict(url=url, payload=payload, method=request["method"], headers=headers)


def traceparent(run_id: str, request_id: str) -> str:
    """W3C trace context for a call: one trace per run, one span per call. With it the TS SDK
    exports the spans user code makes (extended traces) and collects AI attributes."""
    trace_id = hashlib.sha256(run_id.encode()).hexdigest()[:32]
    span_id = hashlib.sha256(request_id.encode()).hexdigest()[:16]
    return f"00-{trace_id}-{span_id}-01"


def call_app(
    *,
    url: str,
    payload: bytes,
    signing_key: str | None,
    verification_keys: list[str],
    version: int,
    run_id: str,
    step_id: str,
    job_id: str,
    request_id: str,
    method: str = "POST",
    headers: dict | None = None,
) -> CallOutcome:
    """Send the execution request. `signing_key` None means the dev-mode environment: unsigned.

    The ids go in the headers Inngest sends them in: the SDKs hand `X-Inngest-Job-Id` and
    `X-Request-Id` to user code and middleware (`ctx.jobId`, `ctx.requestId`). `method` and
    `headers` differ from a POST of JSON only for a durable endpoint (`endpoint_call`)."""
    headers = {
        "Content-Type": "application/json",
        **(headers or {}),
        "X-Inngest-Server-Kind": "cloud" if signing_key else "dev",
        "X-Run-ID": run_id,
        "X-Inngest-Step-Id": step_id,
        "X-Inngest-Job-Id": job_id,
        "X-Request-Id": request_id,
        "traceparent": traceparent(run_id, request_id),
    }
    if version >= 1:
        headers["X-Inngest-Req-Version"] = str(version)
    if signing_key:
        headers["X-Inngest-Signature"] = sign_canonical_request(payload, signing_key)
    try:
        status, answer_headers, raw = transport.send(
            url, payload, headers, timeout=settings.SDK_CALL_TIMEOUT_SECONDS, method=method
        )
    except transport.CallTimeout:
        return _error("TimeoutError", "The app did not answer in time.", retriable=True)
    except transport.CallFailed as exc:
        return _error("ConnectionError", f"The app could not be reached: {exc}", retriable=True)
    return classify(
        status, answer_headers, raw, verification_keys=verification_keys if signing_key else None
    )


def classify(
    status: int, headers: dict, raw: bytes, *, verification_keys: list[str] | None
) -> CallOutcome:
    if status == 201:  # streamed: the real answer is inside the envelope
        try:
            status, inner_headers, raw = unwrap_streamed(raw)
        except (ValueError, TypeError):
            return _error(
                "ProtocolError", "The app's streamed answer could not be read.", retriable=True
            )
        headers = {**headers, **inner_headers}
    sdk_handled = "x-inngest-sdk" in headers or "x-inngest-sdk-handled" in headers
    version = _int_or_none(headers.get("x-inngest-req-version"))
    if not sdk_handled:
        # A proxy, load balancer or another server answered, not the SDK: worth retrying.
        return _error(
            "HTTPError", f"The app's URL answered {status} without an Inngest SDK.", retriable=True
        )
    signature = headers.get("x-inngest-signature")
    if (
        status in (200, 206)
        and verification_keys is not None
        and not verify_response(signature, raw, verification_keys)
    ):
        return _error(
            "SignatureError", "The app's answer is not signed with this environment's key."
        )
    if status == 200:
        try:
            return CallOutcome(
                kind="done", output=json.loads(raw) if raw.strip() else None, sdk_version=version
            )
        except ValueError:
            return _error("ProtocolError", "The app's answer is not JSON.", retriable=True)
    if status == 206:
        try:
            ops = _with_retry_headers(parse_ops(json.loads(raw)), headers)
            return CallOutcome(kind="ops", ops=ops, sdk_version=version)
        except ValueError as exc:
            return _error(
                "ProtocolError", f"The app reported unreadable steps: {exc}", retriable=True
            )
    outcome = CallOutcome(
        kind="error", error=_error_object(status, raw), sdk_version=version, status=status
    )
    no_retry = headers.get("x-inngest-no-retry")
    outcome.retriable = (no_retry != "true") if no_retry is not None else status >= 500
    if status == 401:
        outcome.error = standard_error(
            "SignatureError",
            "The app rejected the request signature: its INNGEST_SIGNING_KEY does not "
            "match this environment's signing key.",
            error="invalid status code: 401",
        )
    outcome.retry_after = _retry_after(headers.get("retry-after"))
    return outcome


def _with_retry_headers(ops: list[Op], headers) -> list[Op]:
    """A StepError may come with `Retry-After` (RetryAfterError in a step) or
    `X-Inngest-No-Retry: true`: they apply to the step's next attempt."""
    retry_after = _retry_after(headers.get("retry-after"))
    no_retry = headers.get("x-inngest-no-retry") == "true"
    return [
        replace(op, retry_after=retry_after, no_retry=no_retry) if op.op == "StepError" else op
        for op in ops
    ]


def _error(name: str, message: str, *, retriable: bool = False) -> CallOutcome:
    return CallOutcome(kind="error", error=standard_error(name, message), retriable=retriable)


def _error_object(status: int, raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return app_error(status, body, raw.decode("utf-8", "replace"))


def _retry_after(value: str | None) -> datetime | None:
    """Retry-After as seconds (TS) or an ISO time (Python), clamped to [1 s, 24 h] like Go."""
    if not value:
        return None
    now = timezone.now()
    try:
        at = now + timedelta(seconds=float(value))
    except ValueError:
        try:
            at = parse_time(value)
        except ValueError:
            return None
    return min(max(at, now + MIN_RETRY_AFTER), now + MAX_RETRY_AFTER)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
