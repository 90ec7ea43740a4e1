"""Applying what a call to the app reported (PROTOCOL.md 4.3-4.6). Callers hold the run lock.

Each op handler says what it changed (`Applied`). A call whose ops changed nothing, with no
step left pending to call the app back, is the loop an unknown op used to cause: the next call
backs off, and after MAX_IDLE_CALLS such calls in a row the run fails, saying so.
"""

import enum
import hashlib
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from controlplane.engine.backoff import retry_delay
from controlplane.engine.client import CallOutcome
from controlplane.engine.create import run_create
from controlplane.engine.defers import defer_abort, defer_add
from controlplane.engine.effects import Effects
from controlplane.engine.errors import standard_error
from controlplane.engine.invoke import invoked_event
from controlplane.engine.jobs import job_retry_payload, job_schedule
from controlplane.engine.protocol import DISCOVERY, Op, parse_duration, sleep_until
from controlplane.engine.steps import (
    discovery_schedule,
    has_pending_steps,
    run_status_for_pending,
    step_memoize,
    step_pending,
)
from controlplane.engine.terminate import run_complete, run_fail
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.runs.history import history_append
from controlplane.runs.metadata import op_metadata_apply
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
# Calls in a row that change nothing before the run fails; each waits twice as long as the
# last (1 s, 2 s, 4 s, 8 s, times RETRY_BACKOFF_SCALE).
MAX_IDLE_CALLS = 5
# Ops that ride along with others and need no answer of their own (Go: OpcodeIsLazy).
LAZY_OPS = frozenset({"DeferAdd", "DeferAbort"})
# The step id TS reports a function-level result or error under when lazy ops ride along
# with it (its RUN_COMPLETE_STEP_ID, hashed like every step id).
FUNCTION_STEP_ID = hashlib.sha1(b"complete").hexdigest()


class Applied(enum.Enum):
    NOTHING = "nothing"  # already stored or planned: a replay re-reported it
    PROGRESS = "progress"
    RACE_WON = "race_won"  # a step of a race finished: call the app without waiting for the rest


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
                error=standard_error("ProtocolError", "The app reported no steps."),
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
        _call_again(run, job, at)
        return
    run_fail(run, error, fx=fx)


def _call_again(run: Run, job: Job, at) -> None:
    """The same call's next attempt (its job id carried on)."""
    job_schedule(
        run,
        JobKind.CALL,
        step_id=job.step_id,
        attempt=job.attempt + 1,
        at=at,
        payload=job_retry_payload(job),
    )


def _apply_ops(run: Run, job: Job, ops: list[Op], *, fx: Effects) -> None:
    if sum(op.op not in LAZY_OPS for op in ops) > 1:
        run.disable_immediate_execution = True
    # Waits go in place first, so an event sent by a step of the same batch can resolve them.
    ordered = sorted(ops, key=lambda op: op.op != "WaitForEvent")
    applied = set()
    for op in ordered:
        applied.add(_apply_op(run, job, op, fx))
        if run.is_finished:
            return
    if applied & {Applied.PROGRESS, Applied.RACE_WON}:
        discovery_schedule(run, after_race=Applied.RACE_WON in applied)
    else:
        _no_progress(run, job, ops, fx=fx)


def _apply_op(run: Run, job: Job, op: Op, fx: Effects) -> Applied:
    if op.op == "None":  # Go's OpcodeNone: this thread of the run has nothing more to do
        return Applied.NOTHING
    if not op.id:
        error = standard_error("ProtocolError", f"The app reported a {op.op} op without an id.")
        run_fail(run, error, fx=fx)
        return Applied.PROGRESS
    if op.id == FUNCTION_STEP_ID and op.op in ("StepError", "StepFailed"):
        # The function itself failed (its error came as a step op beside lazy ops).
        _retry_or_fail(run, job, op.error, retriable=op.op == "StepError", at=None, fx=fx)
        return Applied.PROGRESS
    return _handle(run, job, op, fx)


def _handle(run: Run, job: Job, op: Op, fx: Effects | None) -> Applied:
    applied = _HANDLERS.get(op.op, _unsupported)(run, job, op, fx)
    if op.metadata is not None and applied is not Applied.NOTHING:  # a re-report adds nothing
        op_metadata_apply(run, op, attempt=job.attempt)
    return applied


# What an app may checkpoint: steps it ran inside the call and the lazy ops that ride along
# (Go refuses the rest too).
CHECKPOINT_OPS = frozenset({"StepRun", "Step", *LAZY_OPS})


def checkpoint_apply(run: Run, job: Job, ops: list[Op]) -> None:
    """Store steps the app ran and checkpointed during `job`'s call, exactly as the call's
    answer would have reported them (memo, history, live); the app goes on in the same call,
    so nothing is scheduled. Ops outside CHECKPOINT_OPS are refused before this is called."""
    for op in ops:
        _handle(run, job, op, None)


def _no_progress(run: Run, job: Job, ops: list[Op], *, fx: Effects) -> None:
    """The call changed nothing. With steps pending, their results call the app back; else call
    again after a pause, and fail the run once MAX_IDLE_CALLS calls in a row were idle."""
    if has_pending_steps(run):
        run_status_for_pending(run)
        return
    idle = job.payload.get("idle_calls", 0) + 1
    reported = ", ".join(sorted({op.op for op in ops}))
    if idle >= MAX_IDLE_CALLS:
        message = (
            f"The app was called {idle} times in a row and reported nothing new "
            f"(last: {reported}): the run cannot make progress."
        )
        run_fail(run, standard_error("NoProgressError", message), fx=fx)
        return
    at = timezone.now() + timedelta(seconds=2 ** (idle - 1) * settings.RETRY_BACKOFF_SCALE)
    history_append(
        run,
        HistoryKind.IDLE_CALL,
        attempt=job.attempt,
        ops=reported,
        idle_calls=idle,
        at=at.isoformat(),
    )
    discovery_schedule(run, at=at, payload={"idle_calls": idle})


def _memoize(
    run: Run, job: Job, op: Op, memo, *, failed: bool = False, kind: str | None = None
) -> Applied:
    if kind is None:
        kind = StepKind.SEND_EVENT if op.opts.get("type") == "step.sendEvent" else StepKind.RUN
    step = step_memoize(run, op.id, memo, failed=failed, name=op.user_name, kind=kind, attempt=job)
    if step is None:
        return Applied.NOTHING
    history_kind = HistoryKind.STEP_FAILED if failed else HistoryKind.STEP_COMPLETED
    data = {"error": memo["error"]} if failed else {"output": memo}
    history_append(
        run, history_kind, step_id=op.id, step_name=op.user_name, attempt=job.attempt, **data
    )
    return Applied.RACE_WON if step.race else Applied.PROGRESS


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
    _call_again(run, job, at)
    return Applied.PROGRESS


def _step_planned(run, job, op, fx):
    if not step_pending(
        run, op.id, status=StepStatus.PLANNED, kind=StepKind.RUN, name=op.user_name, race=op.is_race
    ):
        return Applied.NOTHING  # already planned or done: a discovery re-reports unfinished steps
    history_append(run, HistoryKind.STEP_STARTED, step_id=op.id, step_name=op.user_name)
    job_schedule(run, JobKind.CALL, step_id=op.id)
    return Applied.PROGRESS


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
        return Applied.NOTHING  # Python recomputes the wake time on every replay: the first holds
    history_append(
        run, HistoryKind.SLEEPING, step_id=op.id, step_name=op.user_name, until=wake.isoformat()
    )
    job_schedule(run, JobKind.RESUME, step_id=op.id, at=wake, payload={"memo": None})
    return Applied.PROGRESS


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
        return Applied.NOTHING
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
    return Applied.PROGRESS


# What Inngest says when step.invoke names no function (pkg/execution/runner/runner.go): SDK
# code may match on it.
INVOKE_NOT_FOUND = "could not find function with ID: {slug}"
INVOKE_TIMEOUT_MESSAGE = "Timed out waiting for invoked function to complete"


def _invoke_refusal(target, slug: str) -> str:
    """Why `target` cannot start a run now, in words for the invoking step's error; "" if it can."""
    if target is None:
        return INVOKE_NOT_FOUND.format(slug=slug)
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
    if refusal := _invoke_refusal(target, target_slug):
        error = standard_error("Error", refusal, error=refusal)
        return _memoize(run, job, op, {"error": error}, failed=True, kind=StepKind.INVOKE)
    if not step_pending(
        run,
        op.id,
        status=StepStatus.INVOKING,
        kind=StepKind.INVOKE,
        name=op.user_name,
        function=target_slug,
    ):
        return Applied.NOTHING
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
            **standard_error("InngestInvokeTimeoutError", INVOKE_TIMEOUT_MESSAGE),
            "code": "step_errored",
        }
        at = timezone.now() + parse_duration(timeout)
        job_schedule(
            run,
            JobKind.RESUME,
            step_id=op.id,
            at=at,
            payload={"memo": {"error": error}, "failed": True},
        )
    return Applied.PROGRESS


def _run_complete(run, job, op, fx):
    """The function returned; TS reports it as an op when lazy ops ride along (data is raw)."""
    run_complete(run, op.data, fx=fx)
    return Applied.PROGRESS


# Lazy ops ride along with the op that moves the run; one that came alone and changed
# something still calls the app back (Go's lazy-op fallback), a re-report does not.


def _defer_add(run, job, op, fx):
    return Applied.PROGRESS if defer_add(run, op) else Applied.NOTHING


def _defer_abort(run, job, op, fx):
    return Applied.PROGRESS if defer_abort(run, op) else Applied.NOTHING


def _discovery_request(run, job, op, fx):
    """The SDK asks to be called again with no step targeted (its checkpointing ran out of
    time): the discovery call that follows any progress."""
    return Applied.PROGRESS


def _unsupported(run, job, op, fx):
    """An op this server does not implement fails its step for good, saying so: the SDK raises
    it where the app awaits the step, and the run's history shows it. Never skipped: the SDK
    would report it again on every call."""
    message = (
        f"This server does not support the {op.op} opcode (step {op.user_name!r}): "
        "the step cannot run here."
    )
    error = standard_error("UnsupportedOpcodeError", message)
    return _memoize(run, job, op, {"error": error}, failed=True)


_HANDLERS = {
    "StepRun": _step_run,
    "Step": _step_legacy,
    "StepError": _step_error,
    "StepFailed": _step_failed,
    "StepPlanned": _step_planned,
    "Sleep": _sleep,
    "WaitForEvent": _wait_for_event,
    "InvokeFunction": _invoke,
    "RunComplete": _run_complete,
    "DeferAdd": _defer_add,
    "DeferAbort": _defer_abort,
    "DiscoveryRequest": _discovery_request,
}
