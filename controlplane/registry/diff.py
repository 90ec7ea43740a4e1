"""The semantic diff of an app's function set between two syncs, field by field."""

# Fields people recognise, in the order the sync history lists them. Everything else a
# function declares is compared under its own (top-level) name after these.
FIELD_ORDER = [
    "name",
    "triggers",
    "retries",
    "concurrency",
    "rateLimit",
    "throttle",
    "debounce",
    "batchEvents",
    "priority",
    "idempotency",
    "singleton",
    "cancel",
    "timeouts",
    "url",
]


def _fields(config: dict) -> dict:
    """A function config flattened into the fields the diff compares."""
    fields = {key: value for key, value in config.items() if key not in ("id", "steps")}
    step = config.get("steps", {}).get("step", {})
    fields["retries"] = (step.get("retries") or {}).get("attempts")
    fields["url"] = (step.get("runtime") or {}).get("url")
    return {key: value for key, value in fields.items() if value is not None}


def _order(name: str) -> tuple:
    return (FIELD_ORDER.index(name) if name in FIELD_ORDER else len(FIELD_ORDER), name)


def config_changes(before: dict, after: dict) -> list[dict]:
    """[{"field", "before", "after"}] for each field that differs (None = not declared)."""
    old, new = _fields(before), _fields(after)
    names = sorted(set(old) | set(new), key=_order)
    return [
        {"field": name, "before": old.get(name), "after": new.get(name)}
        for name in names
        if old.get(name) != new.get(name)
    ]


def functions_diff(before: dict[str, dict], after: dict[str, dict]) -> dict:
    """Compare {slug: config} of the previous live set with the new one."""
    changed = []
    for slug in sorted(set(before) & set(after)):
        if fields := config_changes(before[slug], after[slug]):
            changed.append({"function": slug, "fields": fields})
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": changed,
    }
