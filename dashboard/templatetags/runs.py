"""Filters for runs and their steps: durations, JSON values that may be large, AI metadata."""

import json

from django import template
from django.utils.html import format_html

register = template.Library()

# Longer JSON than this is collapsed behind a <details>, so one big step output cannot bury
# the rest of the timeline.
COLLAPSE_CHARS = 600


@register.filter
def duration(obj) -> str:
    """How long a run or step took, from its start (or queueing) to its end; "" while going."""
    start = getattr(obj, "started_at", None) or getattr(obj, "queued_at", None)
    if not (start and obj.ended_at):
        return ""
    seconds = (obj.ended_at - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min {seconds} s"


@register.simple_tag
def json_block(value, summary: str = "Show"):
    """Pretty JSON in a <pre>; collapsed when long, with its size in the summary."""
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)
    if len(text) <= COLLAPSE_CHARS:
        return format_html('<pre class="code">{}</pre>', text)
    return format_html(
        '<details class="json"><summary>{} ({} characters)</summary><pre class="code">{}</pre>'
        "</details>",
        summary,
        len(text),
        text,
    )


@register.filter
def ai_summary(values: dict) -> str:
    """A step's `inngest.ai` metadata in one line: model (provider) · tokens · latency."""
    model = values.get("response_model") or values.get("request_model") or "unknown model"
    parts = [f"{model} ({values['provider']})" if values.get("provider") else model]
    if "input_tokens" in values or "output_tokens" in values:
        tokens_in, tokens_out = values.get("input_tokens", 0), values.get("output_tokens", 0)
        parts.append(f"{tokens_in} in / {tokens_out} out tokens")
    if isinstance(values.get("latency_ms"), int | float):
        parts.append(f"{values['latency_ms']:.0f} ms")
    return " · ".join(parts)
