"""Applying what a call to the app reported (PROTOCOL.md 4.3-4.6). Callers hold the run lock."""

from django.utils import timezone

from controlplane.engine.backoff import retry_delay
from controlplane.engine.client import CallOutcome
from controlplane.engine.create import run_create
from controlplane.engine.effects import Effects
from controlplane.engine.invoke import invoked_event
from controlplane.engine.jobs import job_schedule
from controlplane.engine.protocol import DISCOVERY, Op, parse_duration, sleep_until
from controlplane.engine.steps import discovery_schedule, step_memoize, step_pending
from controlplane.engine.terminate import run_complete, run_fail
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.runs.history import history_append
from controlplane.runs.models import (
    HistoryKind,
    Job,
    JobKind,
    Run,
    StepKind,
    StepStatus,
    Wait,
    WaitKind,
)

# Both SDKs require a timeout on waitForEvent; a missing one waits a year, not forever.
DEFAULT_WAIT_TIMEOUT = "365d"


def apply_outcome(run: Run, job: Job, outcome: CallOutcome, *, fx: Effects) -> None:
    if outcome.sdk_version is not None and run.sdk_version == -1:
        run.sdk_version = outcome.sdk_version
    if outcome.kind == "done":
        run_complete(run, outcome.output, fx=fx)  # drops the run's other jobs too
    elif outcome.kind == "ops" and outcome.ops:
        _apply_ops(run, job, outcome.ops, fx=fx)
    else:
        if outcome.kind == "ops":
            outcome = CallOutcome(
                kind="error",
                error={"name": "ProtocolError", "message": "The app reported no steps."},
                retriable=True,
            )
        _retry_or_fail(
            run, job, outcome.error, retriable=outcome.retriable, at=outcome.retry_after, fx=fx
        )


def _retry_or_fail(run: Run, job: Job, error: dict, *, retriable: bool, at, fx: Effects) -> None:
    """A function-level error: call again with attempt+1, or fail the run when attempts run out."""
    max_attempts = run.function.max_attempts
    step_name = "" if job.step_id == DISCOVERY else job.step_id
    if retriable and job.attempt + 1 < max_attempts:
        at = at or timezone.now() + retry_delay(job.attempt)
        history_append(
            run,
            HistoryKind.RETRY_SCHEDULED,
            step_id=job.step_id,
            step_name=step_name,
            attempt=job.attempt,
            error=error,
            at=at.isoformat(),
        )
        job_schedule(run, JobKind.CALL, step_id=job.step_id, attempt=job.attempt + 1, at=at)
        return
    run_fail(run, error, fx=fx)


def _apply_ops(run: Run, job: Job, ops: list[Op], *, fx: Effects) -> None:
    if len(ops) > 1:
        run.disable_immediate_execution = True
    # Waits go in place first, so an event sent by a step of the same batch can resolve them.
    ordered = sorted(ops, key=lambda op: op.op != "WaitForEvent")
    resolved_race = False
    for op in ordered:
        handler = _HANDLERS.get(op.op)
        if handler is not None and op.id:
            resolved_race |= bool(handler(run, job, op, fx))
    if not run.is_finished:
        discovery_schedule(run, after_race=resolved_race)


def _memoize(run: Run, job: Job, op: Op, memo, *, failed: bool = False) -> bool:
    kind = StepKind.SEND_EVENT if op.opts.get("type") == "step.sendEvent" else StepKind.RUN
    step = step_memoize(run, op.id, memo, failed=failed, name=op.user_name, kind=kind)
    if step is None:
        return False
    history_kind = HistoryKind.STEP_FAILED if failed else HistoryKind.STEP_COMPLETED
    data = {"error": memo["error"]} if failed else {"output": memo}
    history_append(
        run, history_kind, step_id=op.id, step_name=op.user_name, attempt=job.attempt, **data
    )
    return step.race


def _step_run(run, job, op, fx):
    return _memoize(run, job, op, {"data": op.data})


def _step_legacy(run, job, op, fx):
    return _memoize(run, job, op, op.data)


def _step_failed(run, job, op, fx):
    return _memoize(run, job, op, {"error": op.error}, failed=True)


def _step_error(run, job, op, fx):
    """Attempts remain: the same call again after backoff, or when the app's `Retry-After` says.
    The last attempt's error, or one the app marked not to retry, is final."""
    if op.no_retry or job.attempt + 1 >= run.function.max_attempts:
        return _step_failed(run, job, op, fx)
    step_pending(run, op.id, status=StepStatus.PLANNED, kind=StepKind.RUN, name=op.user_name)
    run.steps.filter(step_id=op.id).update(attempts=job.attempt + 1)
    at = op.retry_after or timezone.now() + retry_delay(job.attempt)
    history_append(
        run,
        HistoryKind.STEP_ERRORED,
        step_id=op.id,
        step_name=op.user_name,
        attempt=job.attempt,
        error=op.error,
        retry_at=at.isoformat(),
    )
    # "The same call again": a discovery that ran the step immediately is retried as discovery.
    job_schedule(run, JobKind.CALL, step_id=job.step_id, attempt=job.attempt + 1, at=at)
    return False


def _step_planned(run, job, op, fx):
    if not step_pending(
        run, op.id, status=StepStatus.PLANNED, kind=StepKind.RUN, name=op.user_name, race=op.is_race
    ):
        return False  # already planned or done: a discovery re-reports unfinished steps
    history_append(run, HistoryKind.STEP_STARTED, step_id=op.id, step_name=op.user_name)
    job_schedule(run, JobKind.CALL, step_id=op.id)
    return False


def _sleep(run, job, op, fx):
    now = timezone.now()
    wake = sleep_until(op, now)
    if not step_pending(
        run,
        op.id,
        status=StepStatus.SLEEPING,
        kind=StepKind.SLEEP,
        name=op.user_name,
        until=wake.isoformat(),
    ):
        return False  # Python recomputes the wake time on every replay: the first one holds
    history_append(
        run, HistoryKind.SLEEPING, step_id=op.id, step_name=op.user_name, until=wake.isoformat()
    )
    job_schedule(run, JobKind.RESUME, step_id=op.id, at=wake, payload={"memo": None})
    return False


def _wait_for_event(run, job, op, fx):
    event_name = op.opts.get("event") or op.name
    expression = op.opts.get("if") or ""
    timeout = parse_duration(op.opts.get("timeout") or DEFAULT_WAIT_TIMEOUT)
    expires = timezone.now() + timeout
    if not step_pending(
        run,
        op.id,
        status=StepStatus.WAITING,
        kind=StepKind.WAIT,
        name=op.user_name,
        event=event_name,
        expression=expression,
        until=expires.isoformat(),
    ):
        return False
    Wait.objects.create(
        run=run,
        environment_id=run.environment_id,
        kind=WaitKind.STEP,
        step_id=op.id,
        event_name=event_name,
        expression=expression,
        expires_at=expires,
    )
    history_append(
        run,
        HistoryKind.WAITING,
        step_id=op.id,
        step_name=op.user_name,
        event=event_name,
        expression=expression,
        until=expires.isoformat(),
    )
    job_schedule(
        run, JobKind.RESUME, step_id=op.id, at=expires, payload={"memo": None, "wait": True}
    )
    return False


def _invoke_refusal(target, slug: str) -> str:
    """Why `target` cannot start a run now, in words for the invoking step's error; "" if it can."""
    if target is None:
        return f"Function {slug!r} is not registered in this environment."
    if target.paused_at is not None:
        return f"Function {slug!r} is paused: it starts no runs."
    if target.app.is_archived:
        return f"Function {slug!r} belongs to an archived app: it starts no runs."
    return ""


def _invoke(run, job, op, fx):
    target_slug = op.opts.get("function_id") or ""
    target = (
        run.environment.functions.filter(slug=target_slug, removed_at__isnull=True)
        .select_related("app")
        .first()
    )
    refusal = _invoke_refusal(target, target_slug)
    if refusal:
        error = {"name": "Error", "message": refusal}
        return _memoize(run, job, op, {"error": error}, failed=True)
    if not step_pending(
        run,
        op.id,
        status=StepStatus.INVOKING,
        kind=StepKind.INVOKE,
        name=op.user_name,
        function=target_slug,
    ):
        return False
    payload = op.opts.get("payload") or {}
    event = invoked_event(
        function_slug=target_slug,
        data=payload.get("data") or {},
        v=payload.get("v"),
        meta=payload.get("meta"),
        correlation_id=f"{run.public_id}.{op.id}",
        source_app_id=run.function.app.app_id,
        source_fn_id=run.function.slug,
        source_fn_v=run.function_version,
    )
    [ingested] = events_ingest(
        environment=run.environment, payloads=[event], source=EventSource.INTERNAL
    )
    child = run_create(function=target, events=[ingested.event], parent=run, parent_step_id=op.id)
    run.steps.filter(step_id=op.id).update(
        details={"function": target_slug, "child_run": child.public_id}
    )
    history_append(
        run,
        HistoryKind.INVOKED,
        step_id=op.id,
        step_name=op.user_name,
        function=target_slug,
        child_run=child.public_id,
    )
    if timeout := op.opts.get("timeout"):
        error = {
            "name": "InngestInvokeTimeoutError",
            "message": f"Timed out waiting for {target_slug}.",
        }
        at = timezone.now() + parse_duration(timeout)
        job_schedule(
            run,
            JobKind.RESUME,
            step_id=op.id,
            at=at,
            payload={"memo": {"error": error}, "failed": True},
        )
    return False


_HANDLERS = {
    "StepRun": _step_run,
    "Step": _step_legacy,
    "StepError": _step_error,
    "StepFailed": _step_failed,
    "StepPlanned": _step_planned,
    "Sleep": _sleep,
    "WaitForEvent": _wait_for_event,
    "InvokeFunction": _invoke,
}
