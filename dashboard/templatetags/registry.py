"""Filters for showing what apps declared: SDK labels, JSON values, triggers, wildcards."""

import json

from django import template

from controlplane.registry import wildcards

register = template.Library()

LANGUAGES = {"py": "Python", "js": "TypeScript", "go": "Go"}


@register.filter
def sdk_label(sdk: str) -> str:
    """ "py:v0.5.19" -> "Python v0.5.19"."""
    language, _, version = (sdk or "").partition(":")
    return f"{LANGUAGES.get(language, language)} {version}".strip() if sdk else "unknown SDK"


@register.filter
def as_json(value, indent: int | None = None) -> str:
    """A declared value as JSON; "not set" when the function does not declare it."""
    if value is None:
        return "not set"
    return json.dumps(value, indent=indent or None, sort_keys=False, ensure_ascii=False)


@register.filter
def trigger_label(trigger) -> str:
    if trigger.cron:
        return f"cron {trigger.cron}"
    return (
        f"{trigger.event_name} if {trigger.expression}"
        if trigger.expression
        else trigger.event_name
    )


register.filter("wildcard_prefix", wildcards.wildcard_prefix)
