"""The engine's few observation points. Each records metrics, a span and a log line once the
transaction it was called in commits (a rolled-back outcome is not reported); a failure to
report is logged, never raised into the engine (`robust`)."""

import logging

from django.db import transaction

from controlplane.observability import metrics, tracing
from controlplane.observability.logging import log_context
from controlplane.observability.models import DURATION_BOUNDS_MS, SdkCall

log = logging.getLogger("controlplane.engine")
# Ops that mean the call ran a step's code (the others plan, sleep, wait or invoke).
_STEP_OPS = {"StepRun", "Step", "StepError", "StepFailed"}


def events_received(*, source: str, count: int) -> None:
    if count:
        metrics.EVENTS_RECEIVED.labels(source=source).inc(count)


def sdk_call_observed(*, run, job, started, ended, outcome) -> None:
    """A call to the app returned `outcome`; called inside the transaction storing it."""
    duration_ms = (ended - started).total_seconds() * 1000
    ran_step = outcome.kind == "done" or any(op.op in _STEP_OPS for op in outcome.ops)
    SdkCall.objects.create(
        environment_id=run.environment_id,
        function_id=run.function_id,
        run=run,
        step_id=job.step_id,
        attempt=job.attempt,
        outcome=outcome.kind,
        ran_step=ran_step,
        started_at=started,
        duration_ms=duration_ms,
        duration_bucket=next(i for i, b in enumerate(DURATION_BOUNDS_MS) if duration_ms <= b),
    )

    def report():
        labels = metrics.function_labels(run)
        seconds = duration_ms / 1000
        metrics.SDK_CALLS.labels(**labels, outcome=outcome.kind).observe(seconds)
        if ran_step:
            metrics.STEPS.labels(**labels).observe(seconds)
        if job.attempt:
            metrics.RETRIES.labels(**labels).inc()
        tracing.span_sdk_call(
            run=run,
            step_id=job.step_id,
            attempt=job.attempt,
            started=started,
            ended=ended,
            outcome=outcome.kind,
            error=outcome.error,
        )
        with log_context(run_id=run.public_id, step_id=job.step_id):
            log.info("sdk call %s in %.1f ms", outcome.kind, duration_ms)

    transaction.on_commit(report, robust=True)


def run_started_observed(run) -> None:
    transaction.on_commit(
        lambda: metrics.RUNS_STARTED.labels(**metrics.function_labels(run)).inc(), robust=True
    )


def run_finished_observed(run) -> None:
    def report():
        metrics.RUNS_FINISHED.labels(**metrics.function_labels(run), status=run.status).inc()
        tracing.span_run(run)
        with log_context(run_id=run.public_id):
            log.info("run %s", run.status)

    transaction.on_commit(report, robust=True)
