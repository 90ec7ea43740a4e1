"""Async checkpointing (PROTOCOL.md 4.10): during one call the TypeScript SDK runs step after
step and posts each result here before going on, instead of ending the call per step.

A checkpoint is stored as the call's own answer would be (`checkpoint_apply`), under the run's
lock, for the call it quotes (`qi_id`, the job row of the call in flight). Once that call's
answer has been applied its job is gone: a checkpoint quoting it then is stale (409), which
tells the SDK to stop, as another call carries the run on.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from controlplane.engine.execute import run_mark_started
from controlplane.engine.ops import CHECKPOINT_OPS, checkpoint_apply
from controlplane.engine.protocol import parse_ops
from controlplane.engine.steps import run_state_save
from controlplane.refusals import Refused
from controlplane.runs.history import history_batched
from controlplane.runs.models import Job, JobKind, Run


class CheckpointRefused(Refused):
    pass


@dataclass(frozen=True)
class AsyncCheckpoint:
    run_id: str
    fn_id: str
    job_pk: int
    ops: list
    started_at: datetime | None


def async_checkpoint_parse(run_id: str, body) -> AsyncCheckpoint:
    """The SDK's body, checked whole before anything is stored: a bad op refuses all."""
    if not isinstance(body, dict):
        raise CheckpointRefused("The body must be a JSON object.")
    if body.get("run_id") != run_id:
        raise CheckpointRefused("`run_id` must be the run of the URL.")
    fn_id, qi_id = body.get("fn_id"), body.get("qi_id")
    if not isinstance(fn_id, str) or not isinstance(qi_id, str) or not qi_id.isdigit():
        raise CheckpointRefused("`fn_id` and `qi_id` must be the ones of the call's request.")
    if not isinstance(body.get("steps"), list) or not body["steps"]:
        raise CheckpointRefused("`steps` must be a non-empty list of step ops.")
    ops = parse_checkpoint_ops(body["steps"], allowed=CHECKPOINT_OPS)
    return AsyncCheckpoint(run_id, fn_id, int(qi_id), ops, _ms_time(body.get("request_started_at")))


def parse_checkpoint_ops(steps, *, allowed: frozenset | None) -> list:
    """The ops of a checkpoint; each needs an id, and with `allowed`, one of those opcodes."""
    if not isinstance(steps, list):
        raise CheckpointRefused("`steps` must be a list of step ops.")
    try:
        ops = parse_ops(steps)
    except ValueError as exc:
        raise CheckpointRefused(f"`steps`: {exc}.") from None
    for op in ops:
        if allowed is not None and op.op not in allowed:
            raise CheckpointRefused(
                f"Cannot checkpoint opcode: {op.op} (this server takes only "
                f"{', '.join(sorted(allowed))} here)."
            )
        if not op.id:
            raise CheckpointRefused(f"A checkpointed {op.op} op needs an `id`.")
    return ops


def _ms_time(value) -> datetime | None:
    """The SDK's `request_started_at` (Unix ms), when it is one."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def async_checkpoint_store(*, environment, checkpoint: AsyncCheckpoint) -> None:
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("function__app", "environment", "event")
            .filter(environment=environment, public_id=checkpoint.run_id)
            .first()
        )
        if run is None:
            raise CheckpointRefused("Run not found.", 404)
        if str(run.function.public_id) != checkpoint.fn_id:
            raise CheckpointRefused("`fn_id` is not the run's function.")
        job = Job.objects.filter(pk=checkpoint.job_pk, run=run, kind=JobKind.CALL).first()
        if job is None or run.is_finished:
            raise CheckpointRefused("Stale dispatch: that call of the run is over.", 409)
        with history_batched(run):
            if run.started_at is None:
                run_mark_started(run, checkpoint.started_at or job.created_at)
            checkpoint_apply(run, job, checkpoint.ops)
        run_state_save(run)
