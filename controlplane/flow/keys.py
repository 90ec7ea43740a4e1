"""Flow-control keys: evaluating a function's key expressions for one event.

An expression that fails to evaluate (a missing field, a type error) falls back to the
documented default — the empty key, priority 0 — and the failure is returned as a note for the
run's history; it never stops a run from being created.
"""

import hashlib
import json
from dataclasses import dataclass, field

from controlplane.expressions import ExpressionError, evaluate
from controlplane.registry.models import Function

PRIORITY_BOUND = 600  # seconds, either way (Inngest)


def key_value(expression: str | None, event: dict, notes: list[str], what: str) -> str:
    """A short stable id for the expression's value ('' when there is no expression or it fails)."""
    if not expression:
        return ""
    try:
        value = evaluate(expression, {"event": event})
    except ExpressionError as exc:
        notes.append(f"{what} key {expression!r} failed ({exc}); the empty key was used.")
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


@dataclass
class RunKeys:
    priority: int = 0
    concurrency: list[tuple[str, int]] = field(default_factory=list)  # (queue key, limit)
    singleton: str = ""
    notes: list[str] = field(default_factory=list)


def concurrency_limits(function: Function) -> list[dict]:
    """Up to two `{limit, key?, scope?}` limits; SDKs also send a bare number or one object."""
    raw = function.config.get("concurrency")
    if raw is None:
        return []
    if isinstance(raw, int):
        raw = [{"limit": raw}]
    elif isinstance(raw, dict):
        raw = [raw]
    return [c for c in raw if isinstance(c, dict) and int(c.get("limit") or 0) > 0][:2]


def run_keys(function: Function, event: dict) -> RunKeys:
    keys = RunKeys()
    for limit in concurrency_limits(function):
        value = key_value(limit.get("key"), event, keys.notes, "Concurrency")
        scope = limit.get("scope") or "fn"
        expression = hashlib.sha1((limit.get("key") or "").encode()).hexdigest()[:8]
        owner = {
            "fn": f"f{function.pk}",
            "env": f"e{function.environment_id}:{expression}",
            "account": f"a{function.environment.organization_id}:{expression}",
        }.get(scope, f"f{function.pk}")
        keys.concurrency.append((f"{owner}:{value}", int(limit["limit"])))
    if priority := (function.config.get("priority") or {}).get("run"):
        try:
            value = evaluate(priority, {"event": event})
            keys.priority = max(-PRIORITY_BOUND, min(PRIORITY_BOUND, int(value)))
        except (ExpressionError, TypeError, ValueError) as exc:
            keys.notes.append(
                f"Priority expression {priority!r} failed ({exc}); priority 0 was used."
            )
    if singleton := function.config.get("singleton"):
        keys.singleton = "s" + key_value(singleton.get("key"), event, keys.notes, "Singleton")
    return keys
