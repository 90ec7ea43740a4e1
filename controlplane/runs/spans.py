"""Userland spans: what an app traced inside its steps, exported by the TypeScript SDK's extended
traces (OTLP/JSON to /v1/traces/userland) once the engine's call carried a `traceparent`.

The SDK stamps each span with its run (`sdk.run.id`) and, inside a step, the step's hashed id
(`inngest.step.hash`): that is how a span finds its step's row on the run page. Kept bounded: at
most MAX_SPANS_PER_RUN per run and MAX_ATTRIBUTE_BYTES of attributes per span (the rest dropped
and counted, as OTLP's partial success reports).
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from controlplane.refusals import Refused
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, Run, Span, SpanStatus

MAX_SPANS_PER_RUN = 500
MAX_ATTRIBUTE_BYTES = 8 * 1024
RUN_ATTRIBUTE, STEP_ATTRIBUTE = "sdk.run.id", "inngest.step.hash"
_STATUS = {1: SpanStatus.OK, 2: SpanStatus.ERROR}  # OTLP's status codes; 0 is unset


class SpansRefused(Refused):
    pass


@dataclass(frozen=True)
class ExportedSpan:
    run_id: str
    step_id: str
    span_id: str
    parent_span_id: str
    name: str
    started_at: datetime
    ended_at: datetime
    status: str
    attributes: dict


def parse_export(body: dict) -> tuple[list[ExportedSpan], int]:
    """An OTLP/JSON ExportTraceServiceRequest: its spans with a run, and how many had none."""
    resource_spans = body.get("resourceSpans")
    if not isinstance(resource_spans, list):
        raise SpansRefused("`resourceSpans` must be a list (an OTLP/JSON trace export).")
    spans, without_run = [], 0
    for resource in resource_spans:
        for scope in _list(resource, "scopeSpans"):
            for raw in _list(scope, "spans"):
                span = _span(raw)
                if span is None:
                    without_run += 1
                else:
                    spans.append(span)
    return spans, without_run


def _list(parent, key: str) -> list:
    value = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(value, list):
        raise SpansRefused(f"`{key}` must be a list.")
    return value


def _span(raw) -> ExportedSpan | None:
    if not isinstance(raw, dict):
        raise SpansRefused("A span must be an object.")
    span_id, name = raw.get("spanId"), raw.get("name")
    if not isinstance(span_id, str) or not 0 < len(span_id) <= 32:
        raise SpansRefused("A span needs its `spanId`.")
    if not isinstance(name, str):
        raise SpansRefused(f"Span {span_id}: `name` must be a string.")
    attributes = _attributes(raw.get("attributes") or [])
    run_id = attributes.pop(RUN_ATTRIBUTE, None)
    if not isinstance(run_id, str):
        return None
    parent = raw.get("parentSpanId") or ""
    return ExportedSpan(
        run_id=run_id.upper(),
        step_id=str(attributes.get(STEP_ATTRIBUTE) or "")[:64],
        span_id=span_id,
        parent_span_id=parent[:32] if isinstance(parent, str) else "",
        name=name[:255],
        started_at=_nanos(raw.get("startTimeUnixNano"), span_id),
        ended_at=_nanos(raw.get("endTimeUnixNano"), span_id),
        status=_STATUS.get((raw.get("status") or {}).get("code"), SpanStatus.UNSET),
        attributes=_bounded(attributes),
    )


def _attributes(items) -> dict:
    if not isinstance(items, list):
        raise SpansRefused("`attributes` must be a list of key/value pairs.")
    attributes = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise SpansRefused("An attribute must be an object with a `key`.")
        attributes[item["key"]] = _value(item.get("value"))
    return attributes


def _value(value):
    """An OTLP AnyValue as plain JSON."""
    if not isinstance(value, dict) or not value:
        return None
    kind, inner = next(iter(value.items()))
    if kind == "arrayValue":
        return [_value(v) for v in (inner or {}).get("values") or []]
    if kind == "kvlistValue":
        return {kv.get("key"): _value(kv.get("value")) for kv in (inner or {}).get("values") or []}
    if kind == "intValue" and isinstance(inner, str) and inner.lstrip("-").isdigit():
        return int(inner)  # OTLP/JSON writes 64-bit integers as strings
    return inner


def _nanos(value, span_id: str) -> datetime:
    try:
        nanos = int(value)
        return datetime.fromtimestamp(nanos / 1e9, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise SpansRefused(f"Span {span_id}: its times must be Unix nanoseconds.") from None


def _bounded(attributes: dict) -> dict:
    """Attributes in order until MAX_ATTRIBUTE_BYTES; the rest dropped, saying how many."""
    kept, size = {}, 0
    for key, value in attributes.items():
        size += len(json.dumps({key: value}, default=str))
        if size > MAX_ATTRIBUTE_BYTES:
            kept["inngest.dropped_attributes"] = len(attributes) - len(kept)
            break
        kept[key] = value
    return kept


def spans_store(*, environment, spans: list[ExportedSpan]) -> int:
    """Keep the spans of this environment's runs (a span seen before is kept once); how many
    were rejected: another environment's or an unknown run, or past a run's bound. A timeline
    row per step tells the run's live pages."""
    by_run: dict[str, list[ExportedSpan]] = {}
    for span in spans:
        by_run.setdefault(span.run_id, []).append(span)
    rejected = 0
    for run_id, run_spans in by_run.items():
        rejected += _store_for_run(environment, run_id, run_spans)
    return rejected


def _store_for_run(environment, run_id: str, spans: list[ExportedSpan]) -> int:
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .filter(environment=environment, public_id=run_id)
            .first()
        )
        if run is None:
            return len(spans)
        known = set(run.spans.values_list("span_id", flat=True))
        fresh = [s for s in {s.span_id: s for s in spans}.values() if s.span_id not in known]
        room = max(MAX_SPANS_PER_RUN - len(known), 0)
        kept = fresh[:room]
        Span.objects.bulk_create(
            Span(
                run=run,
                step_id=s.step_id,
                span_id=s.span_id,
                parent_span_id=s.parent_span_id,
                name=s.name,
                started_at=s.started_at,
                ended_at=s.ended_at,
                status=s.status,
                attributes=s.attributes,
            )
            for s in kept
        )
        for step_id in sorted({s.step_id for s in kept}):
            count = sum(s.step_id == step_id for s in kept)
            history_append(run, HistoryKind.SPANS, step_id=step_id, spans=count)
        return len(fresh) - len(kept)
