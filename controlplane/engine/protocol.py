"""The execution wire format (PROTOCOL.md 4): request bodies, response ops, durations. Pure."""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

DISCOVERY = "step"  # the stepId of a discovery call

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """A Go-style duration: "90s", "1h30m", "1w2d", "500ms" (Python sends one unit, TS several)."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def parse_time(text: str) -> datetime:
    """An ISO-8601 time such as Python's sleep target "2026-11-25T15:48:52.544Z"."""
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without a zone: {text!r}")
    return value


@dataclass(frozen=True)
class Op:
    """One entry of a 206 response (PROTOCOL.md 4.3); unknown fields are ignored."""

    op: str
    id: str
    name: str = ""
    display_name: str = ""
    opts: dict = field(default_factory=dict)
    data: Any = None
    error: Any = None
    metadata: Any = None  # TS: updates written inside the step (controlplane/runs/metadata.py)
    # A StepError's retry instructions ride in the response headers (PROTOCOL.md 4.6).
    retry_after: datetime | None = None
    no_retry: bool = False

    @property
    def user_name(self) -> str:
        return self.display_name or self.name or self.id

    @property
    def is_race(self) -> bool:
        return self.opts.get("parallelMode") == "race"


def parse_ops(body: Any) -> list[Op]:
    """The ops of a 206 body: a JSON array (or, as Go also accepts, a single object)."""
    items = body if isinstance(body, list) else [body]
    ops = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("op"), str):
            raise ValueError("a step op must be an object with an `op` field")
        ops.append(
            Op(
                op=item["op"],
                id=str(item.get("id") or ""),
                name=str(item.get("name") or ""),
                display_name=str(item.get("displayName") or ""),
                opts=item.get("opts") if isinstance(item.get("opts"), dict) else {},
                data=item.get("data"),
                error=item.get("error"),
                metadata=item.get("metadata"),
            )
        )
    return ops


def sleep_until(op: Op, now: datetime) -> datetime:
    """When a Sleep op wakes: `opts.duration` (spec), else `name` as a duration (TS) or an
    absolute time (Python, TS sleepUntil)."""
    if op.opts.get("duration"):
        return now + parse_duration(op.opts["duration"])
    try:
        return now + parse_duration(op.name)
    except ValueError:
        return parse_time(op.name)


def unwrap_streamed(raw: bytes) -> tuple[int, dict, bytes]:
    """A 201 streaming answer (4.11): whitespace keep-alives, then a JSON envelope holding the
    real status, headers and body."""
    envelope = json.loads(raw.strip() or b"{}")
    body = envelope.get("body", "")
    if not isinstance(body, str):
        body = json.dumps(body)
    headers = {str(k).lower(): str(v) for k, v in (envelope.get("headers") or {}).items()}
    return int(envelope.get("status", 500)), headers, body.encode()


def request_body(
    *,
    run_id: str,
    events: list[dict],
    steps: dict[str, Any],
    stack: list[str],
    attempt: int,
    max_attempts: int,
    disable_immediate_execution: bool,
    version: int,
    step_id: str,
    job_id: str,
    request_id: str,
    fn_id: str,
    qi_id: str,
    defers: dict[str, dict] | None = None,
    use_api: bool = False,
    env: str | None = None,
) -> dict:
    """The execution request both SDKs validate (PROTOCOL.md 4.1). `fn_id` and `qi_id` switch
    TS v4 to async checkpointing (4.10): it runs step after step in this one call and posts
    each to /v1/checkpoint/{run}/async, quoting both back. The job and request ids are also in
    the headers, which is where the SDKs read them; Inngest sends both."""
    ctx = {
        "fn_id": fn_id,
        "qi_id": qi_id,
        "run_id": run_id,
        "attempt": attempt,
        "max_attempts": max_attempts,
        "disable_immediate_execution": disable_immediate_execution,
        "use_api": use_api,
        "stack": {"stack": stack, "current": len(stack)},
        "step_id": step_id,
        "job_id": job_id,
        "request_id": request_id,
    }
    if env:
        ctx["env"] = env
    return {
        "event": events[0],
        "events": [] if use_api else events,
        "steps": {} if use_api else steps,
        "defers": defers or {},  # the defers already stored: the SDK does not report them again
        "ctx": ctx,
        "version": version,
        "use_api": use_api,
    }
