"""Turn what an SDK registers (PROTOCOL.md 2.3 / 2.4) into one normalized shape, or say why not.

Both SDKs' spellings are accepted (`appName`/`appname`/`app_id`, `deployType`/`deploy_type`);
`deployId` is stripped from every URL (the TS SDK leaks it); empty arrays and nulls count as
absent; `concurrency` is always a list of objects. Every expression is parsed as CEL and every
cron and wildcard checked, so a registration either comes out whole or names each function and
field at fault.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from controlplane import expressions
from controlplane.registry import cron
from controlplane.registry.models import MAX_RETRIES
from controlplane.registry.wildcards import trigger_pattern_errors

# The variables each kind of expression may use (Inngest's names).
EVENT_ONLY = {"event"}
EVENT_AND_ASYNC = {"event", "async"}  # cancel.if and waitForEvent.if: `async` is the new event
# Go-style time strings: "90s", "1h30m", "1w2d" (PROTOCOL.md 2.3).
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$")
# (path in the config, expression variables) of every key/condition a function may declare.
KEY_EXPRESSIONS = [
    (("rateLimit", "key"), EVENT_ONLY),
    (("throttle", "key"), EVENT_ONLY),
    (("debounce", "key"), EVENT_ONLY),
    (("batchEvents", "key"), EVENT_ONLY),
    (("batchEvents", "if"), EVENT_ONLY),
    (("priority", "run"), EVENT_ONLY),
    (("singleton", "key"), EVENT_ONLY),
]
DURATIONS = [
    ("rateLimit", "period"),
    ("throttle", "period"),
    ("debounce", "period"),
    ("debounce", "timeout"),
    ("batchEvents", "timeout"),
    ("timeouts", "start"),
    ("timeouts", "finish"),
]


class RegistrationError(ValueError):
    """The registration cannot be applied; the message is meant for people."""


@dataclass
class Registration:
    app_id: str
    url: str
    sdk: str = ""
    framework: str = ""
    app_version: str = ""
    functions: list[dict] = field(default_factory=list)


def strip_deploy_id(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "deployId"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _clean(value):
    """Drop nulls and empty arrays (both mean "not declared"); strip deployId from URLs."""
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            item = _clean(item)
            if item is None or item == []:
                continue
            if key == "url" and isinstance(item, str):
                item = strip_deploy_id(item)
            cleaned[key] = item
        return cleaned
    if isinstance(value, list):
        return [_clean(item) for item in value if item is not None]
    return value


def _sdk_of(payload: dict) -> str:
    if isinstance(payload.get("sdk"), str) and payload["sdk"]:
        return payload["sdk"]
    language, version = payload.get("sdk_language"), payload.get("sdk_version")
    return f"{language}:v{version}" if language and version else ""


def _text(payload: dict, *names: str) -> str:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def registration_parse(payload) -> Registration:
    """A normalized Registration, or RegistrationError listing every problem found."""
    if not isinstance(payload, dict):
        raise RegistrationError("The registration is not a JSON object.")
    payload = _clean(payload)
    app_id = _text(payload, "appName", "appname", "app_id")
    url = _text(payload, "url")
    problems = []
    if not app_id:
        problems.append("The registration names no app (appName).")
    if not url.startswith(("http://", "https://")):
        problems.append("The registration has no http(s) url for the app.")
    functions = payload.get("functions", [])
    if not isinstance(functions, list):
        problems.append("functions must be a list.")
        functions = []
    configs, seen = [], set()
    for index, config in enumerate(functions):
        config = _normalize(config)
        errors = _function_errors(config)
        name = config.get("id") if isinstance(config, dict) else None
        label = f"Function {name}" if isinstance(name, str) and name else f"Function #{index + 1}"
        if name in seen:
            errors.append("the id is declared twice")
        seen.add(name)
        problems += [f"{label}: {error}" for error in errors]
        configs.append(config)
    if problems:
        raise RegistrationError(" ".join(problems))
    return Registration(
        app_id=app_id,
        url=url,
        sdk=_sdk_of(payload),
        framework=_text(payload, "framework"),
        app_version=_text(payload, "appVersion", "app_version"),
        functions=configs,
    )


def _normalize(config):
    if not isinstance(config, dict):
        return config
    concurrency = config.get("concurrency")
    if isinstance(concurrency, int) and not isinstance(concurrency, bool):
        config["concurrency"] = [{"limit": concurrency}]
    elif isinstance(concurrency, dict):
        config["concurrency"] = [concurrency]
    if not config.get("name") and isinstance(config.get("id"), str):
        config["name"] = config["id"]
    return config


def _function_errors(config) -> list[str]:
    if not isinstance(config, dict):
        return ["the function config is not an object"]
    errors = []
    if not isinstance(config.get("id"), str) or not config["id"]:
        errors.append("id is missing")
    errors += _step_errors(config.get("steps"))
    triggers = config.get("triggers", [])
    if not isinstance(triggers, list):
        return [*errors, "triggers must be a list"]
    for number, trigger in enumerate(triggers, start=1):
        errors += [f"trigger {number} {error}" for error in _trigger_errors(trigger)]
    errors += _flow_control_errors(config)
    return errors


def _step_errors(steps) -> list[str]:
    step = steps.get("step") if isinstance(steps, dict) else None
    if not isinstance(step, dict):
        return ["steps.step is missing"]
    runtime_url = (step.get("runtime") or {}).get("url")
    if not isinstance(runtime_url, str) or not runtime_url.startswith(("http://", "https://")):
        return ["steps.step.runtime.url is not an http(s) URL"]
    attempts = (step.get("retries") or {}).get("attempts")
    if attempts is not None and (
        not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0
    ):
        return [f"retries {attempts!r} is not a whole number (0 to {MAX_RETRIES})"]
    return []


def _trigger_errors(trigger) -> list[str]:
    if not isinstance(trigger, dict):
        return ["is not an object"]
    if trigger.get("event") == "":
        return ["has an empty event name"]
    if isinstance(trigger.get("event"), str) and "cron" not in trigger:
        errors = trigger_pattern_errors(trigger["event"])
        expression = trigger.get("expression")
        if expression is None:
            return errors
        return [*errors, *_expression_errors("expression", expression, EVENT_ONLY)]
    if isinstance(trigger.get("cron"), str) and "event" not in trigger:
        try:
            cron.cron_parse(trigger["cron"])
        except cron.CronError as exc:
            return [f"cron {trigger['cron']!r}: {exc}"]
        return []
    kinds = ", ".join(sorted(trigger)) or "nothing"
    return [f"is of an unknown kind (it declares {kinds}; expected an event or a cron)"]


def _expression_errors(where: str, source, variables: set[str]) -> list[str]:
    if not isinstance(source, str):
        return [f"{where} is not a string"]
    try:
        expressions.validate(source, variables=variables)
    except expressions.ExpressionError as exc:
        return [f"{where} {source!r} is not a valid expression: {exc}"]
    return []


def _flow_control_errors(config: dict) -> list[str]:
    errors = []
    for number, limit in enumerate(config.get("concurrency", []), start=1):
        if not isinstance(limit, dict):
            errors.append(f"concurrency {number} is not an object")
        elif "key" in limit:
            errors += _expression_errors(f"concurrency {number} key", limit["key"], EVENT_ONLY)
    for (section, name), variables in KEY_EXPRESSIONS:
        value = config.get(section)
        if isinstance(value, dict) and name in value:
            errors += _expression_errors(f"{section}.{name}", value[name], variables)
    if "idempotency" in config:
        errors += _expression_errors("idempotency", config["idempotency"], EVENT_ONLY)
    for section, name in DURATIONS:
        value = config.get(section)
        if isinstance(value, dict) and name in value and not _is_duration(value[name]):
            errors.append(f"{section}.{name} {value[name]!r} is not a duration like 30s or 1h")
    cancel = config.get("cancel", [])
    for number, rule in enumerate(cancel if isinstance(cancel, list) else [cancel], start=1):
        if not isinstance(rule, dict) or not isinstance(rule.get("event"), str):
            errors.append(f"cancel {number} names no event")
            continue
        if "if" in rule:
            errors += _expression_errors(f"cancel {number} if", rule["if"], EVENT_AND_ASYNC)
        if "timeout" in rule and not _is_duration(rule["timeout"]):
            errors.append(f"cancel {number} timeout {rule['timeout']!r} is not a duration")
    return errors


def _is_duration(value) -> bool:
    return isinstance(value, str) and bool(DURATION.match(value))
