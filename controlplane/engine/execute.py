"""Running one claimed job: call the app (or resume a step), then store the outcome and the next
jobs in one transaction that holds the run's lock."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.engine.backends import backend_notify
from controlplane.engine.client import call_app, endpoint_call, step_url
from controlplane.engine.connections import release_pooled_connection
from controlplane.engine.defers import defers_for_request
from controlplane.engine.effects import Effects
from controlplane.engine.jobs import call_job_id, job_schedule, jobs_keep_next_call
from controlplane.engine.ops import apply_outcome
from controlplane.engine.protocol import parse_duration, parse_time, request_body
from controlplane.engine.settle import settle
from controlplane.engine.steps import run_state_save, run_steps, step_resolve_pending
from controlplane.engine.terminate import run_cancel
from controlplane.ids import new_ulid
from controlplane.keys.selectors import signing_keys_in_clear
from controlplane.keys.signatures import canonical_json
from controlplane.observability.hooks import run_started_observed, sdk_call_observed
from controlplane.observability.logging import log_bind
from controlplane.runs.history import history_append, history_batched
from controlplane.runs.models import HistoryKind, Job, JobKind, Run, Wait
from controlplane.runs.selectors import memoized_steps

log = logging.getLogger(__name__)


@dataclass
class Kept:
    """A run's next app call, kept by the worker whose transaction queued it (see
    `jobs_keep_next_call`), with the run as that transaction left it."""

    job: Job
    run: Run


def execute_job(job: Job, *, owner: str, kept_run: Run | None = None, keep: bool = False):
    """Run the job; with `keep`, the run's next call, if due at once, is returned (Kept) for
    this worker to run next. `kept_run`: the run as returned with the job, not read again."""
    if job.kind == JobKind.CALL:
        return _call(job, owner, kept_run, keep)
    if job.kind == JobKind.RESUME:
        return _in_run_transaction(job, owner, _resume, keep=keep)
    if job.kind == JobKind.FINISH_TIMEOUT:
        return _in_run_transaction(job, owner, _finish_timeout)
    return None


_RELATED = ("function__app", "environment", "event")


def _in_run_transaction(
    job: Job, owner: str, apply, loaded: Run | None = None, keep: bool = False
) -> Kept | None:
    """Lock the run, make sure the job is still ours (a lost lease means another worker has it),
    delete it, apply the change, emit what follows. With `loaded` (the run as read before a
    call), the lock re-reads only the run's own row."""
    with transaction.atomic():
        if loaded is None:
            locked = Run.objects.select_for_update(of=("self",))  # not the joined rows
            run = locked.select_related(*_RELATED).get(pk=job.run_id)
        else:
            # No join, so no `of`: compiling one cost more CPU than the rest of the read.
            run = Run.objects.select_for_update().get(pk=job.run_id)
            run.function, run.environment, run.event = (
                loaded.function,
                loaded.environment,
                loaded.event,
            )
        log_bind(run_id=run.public_id)
        deleted, _ = Job.objects.filter(pk=job.pk, lease_owner=owner).delete()
        if not deleted:
            return None
        if queues := [key for key in (job.ck1, job.ck2) if key]:
            # The call's concurrency slots are free now: the next call in line may go.
            backend_notify(queues=queues)
        if keep:
            jobs_keep_next_call(run, owner=owner)
        fx = Effects()
        with history_batched(run):
            apply(run, job, fx)
        if not run.is_finished:
            run_state_save(run)
        settle(fx)
    kept = getattr(run, "_kept_job", None)
    return Kept(kept, run) if kept else None


def _call(job: Job, owner: str, kept_run: Run | None, keep: bool) -> Kept | None:
    run = kept_run or Run.objects.select_related(*_RELATED).get(pk=job.run_id)
    log_bind(run_id=run.public_id)
    if run.is_finished:
        Job.objects.filter(pk=job.pk, lease_owner=owner).delete()
        return None
    start_by = job.payload.get("start_by")
    if start_by and run.started_at is None and parse_time(start_by) < timezone.now():
        return _in_run_transaction(job, owner, _start_timeout, loaded=run)
    request = _request(run, job)
    release_pooled_connection()  # the app call may take long
    started = timezone.now()
    outcome = call_app(**request)
    ended = timezone.now()

    def apply(run: Run, job: Job, fx: Effects) -> None:
        sdk_call_observed(run=run, job=job, started=started, ended=ended, outcome=outcome)
        if run.is_finished:
            history_append(run, HistoryKind.DISCARDED, step_id=job.step_id, attempt=job.attempt)
            return
        if run.started_at is None:
            run_mark_started(run, started)
        apply_outcome(run, job, outcome, fx=fx)

    return _in_run_transaction(job, owner, apply, loaded=run, keep=keep)


def _request(run: Run, job: Job) -> dict:
    """What `call_app` needs for this call: where and what to send, the ids and the keys."""
    environment, function = run.environment, run.function
    ids = dict(
        run_id=run.public_id,
        step_id=job.step_id,
        job_id=call_job_id(job),
        request_id=new_ulid(),
    )
    if function.is_endpoint:
        target = endpoint_call(run.event.data, force_step_plan=run.disable_immediate_execution)
    else:
        target = _execution_request(run, job, ids)
    active, accepted = signing_keys_in_clear(environment)
    return dict(
        **target,
        **ids,
        signing_key=None if environment.is_dev_mode else active,
        verification_keys=accepted,
        version=run.sdk_version,
    )


def _execution_request(run: Run, job: Job, ids: dict) -> dict:
    """The function's URL and the execution request's body (PROTOCOL.md 4.4), in JCS: the bytes
    signed are the bytes sent."""
    function = run.function
    steps, stack = memoized_steps(run)
    # Only a batch has more than its triggering event: spare the query otherwise.
    batch = function.config.get("batchEvents")
    events = (
        [e.as_sdk_payload() for e in run.events.order_by("id")]
        if batch
        else [run.event.as_sdk_payload()]
    )
    fields = dict(
        **ids,
        events=events,
        steps=steps,
        stack=stack,
        attempt=job.attempt,
        max_attempts=function.max_attempts,
        disable_immediate_execution=run.disable_immediate_execution,
        version=run.sdk_version,
        fn_id=str(function.public_id),
        qi_id=str(job.pk),  # this very row: a checkpoint quoting it is for the call in flight
        defers=defers_for_request(run),
    )
    payload = canonical_json(request_body(**fields))
    if len(payload) > settings.MAX_REQUEST_BYTES:
        # Too big to send: the SDK fetches events and steps from /v0/runs/{id}/... (4.7).
        payload = canonical_json(request_body(**fields, use_api=True))
    return dict(url=step_url(function.step_url, job.step_id), payload=payload)


def run_mark_started(run: Run, at) -> None:
    run.started_at = at  # saved with the outcome's other run changes
    history_append(run, HistoryKind.STARTED)
    run_started_observed(run)
    if finish := (run.function.config.get("timeouts") or {}).get("finish"):
        job_schedule(run, JobKind.FINISH_TIMEOUT, at=at + parse_duration(finish))


def _resume(run: Run, job: Job, fx: Effects) -> None:
    """A sleep ended, or a wait / invoke timed out: the step gets its (null or error) result."""
    if run.is_finished:
        return
    step = run_steps(run).get(job.step_id)
    if step is None or step.has_memo:
        return
    if job.payload.get("wait"):
        closed = Wait.objects.filter(
            run=run, step_id=step.step_id, resolved_at__isnull=True
        ).update(resolved_at=timezone.now())
        if not closed:
            return  # an event resolved it first
    kind = {"sleep": HistoryKind.STEP_COMPLETED, "waitForEvent": HistoryKind.WAIT_RESOLVED}.get(
        step.kind, HistoryKind.INVOKE_RESOLVED
    )
    extra = {"timed_out": True} if step.kind != "sleep" else {}
    step_resolve_pending(
        run,
        step,
        job.payload.get("memo"),
        history_kind=kind,
        failed=bool(job.payload.get("failed")),
        **extra,
    )


def _start_timeout(run: Run, job: Job, fx: Effects) -> None:
    run_cancel(run, fx=fx, reason="The run did not start within its timeouts.start.")


def _finish_timeout(run: Run, job: Job, fx: Effects) -> None:
    run_cancel(run, fx=fx, reason="The run did not finish within its timeouts.finish.")
