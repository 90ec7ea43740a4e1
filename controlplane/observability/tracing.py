"""OpenTelemetry traces, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the
exporter reads the standard OTEL_* variables); nothing is created or sent otherwise.

A run may last days and move between processes, so no span is held open: each span is
emitted whole when its work ends, with its real start and end times. Ids are derived from the
ULIDs: a run's trace id is its run id (128 bits), its root span id the id's low 64 bits, so the
SDK-call spans, emitted earlier and elsewhere, name the run span as parent before it exists.
The run span links to its triggering event's context, derived the same way from the event id.
"""

import os
import threading
from contextvars import ContextVar
from datetime import datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_LOW_64 = (1 << 64) - 1
_fixed_ids: ContextVar[tuple[int, int] | None] = ContextVar("fixed_span_ids", default=None)
_lock = threading.Lock()
_provider: TracerProvider | None = None


class _IdGenerator(RandomIdGenerator):
    """Random ids, unless a root span's ids were fixed for this context."""

    def generate_trace_id(self) -> int:
        fixed = _fixed_ids.get()
        return fixed[0] if fixed else super().generate_trace_id()

    def generate_span_id(self) -> int:
        fixed = _fixed_ids.get()
        return fixed[1] if fixed else super().generate_span_id()


def _ulid_int(ulid: str) -> int:
    value = 0
    for char in ulid.upper():
        value = (value << 5) | _ALPHABET.index(char)
    return value


def ids_of(ulid: str) -> tuple[int, int]:
    """(trace id, span id) of the root span of the run or event with this ULID."""
    value = _ulid_int(ulid)
    return value, (value & _LOW_64) or 1


def _context_of(ulid: str) -> SpanContext:
    trace_id, span_id = ids_of(ulid)
    return SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )


def provider() -> TracerProvider | None:
    """The process's tracer provider, made on first use; None when tracing is off."""
    global _provider
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    with _lock:
        if _provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            service = os.environ.get("OTEL_SERVICE_NAME", "controlplane")
            _provider = TracerProvider(
                resource=Resource.create({"service.name": service}), id_generator=_IdGenerator()
            )
            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return _provider


def shutdown() -> None:
    """Flush and forget the provider (tests; a new endpoint takes effect on next use)."""
    global _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
        _provider = None


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


def span_sdk_call(*, run, step_id: str, attempt: int, started, ended, outcome: str, error) -> None:
    """A child of the run's span for one call to the app."""
    if (tracing := provider()) is None:
        return
    parent = trace.set_span_in_context(NonRecordingSpan(_context_of(run.public_id)))
    span = tracing.get_tracer(__name__).start_span(
        f"sdk call {run.function.slug}",
        context=parent,
        kind=SpanKind.CLIENT,
        start_time=_ns(started),
        attributes={
            "inngest.run.id": run.public_id,
            "inngest.function.id": run.function.slug,
            "inngest.step.id": step_id,
            "inngest.step.attempt": attempt,
            "inngest.call.outcome": outcome,
        },
    )
    if error:
        span.set_status(Status(StatusCode.ERROR, str(error.get("message", ""))[:200]))
    span.end(end_time=_ns(ended))


def span_run(run) -> None:
    """The run's root span, from its start (or queueing) to its end, linked to its event."""
    if (tracing := provider()) is None:
        return
    token = _fixed_ids.set(ids_of(run.public_id))
    try:
        span = tracing.get_tracer(__name__).start_span(
            f"run {run.function.slug}",
            context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root, whatever is current
            start_time=_ns(run.started_at or run.queued_at),
            links=[Link(_context_of(run.event.public_id), {"inngest.event.name": run.event.name})],
            attributes={
                "inngest.run.id": run.public_id,
                "inngest.function.id": run.function.slug,
                "inngest.event.id": run.event.public_id,
                "inngest.run.status": run.status,
            },
        )
    finally:
        _fixed_ids.reset(token)
    if run.status != "completed":
        span.set_status(Status(StatusCode.ERROR, run.status))
    span.end(end_time=_ns(run.ended_at))
