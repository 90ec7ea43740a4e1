"""Memoizing step results and deciding when to call the app again.

Callers hold the run lock and save the run's state fields once at the end of their transaction
(`run_state_save`): these functions change the run in memory only.
"""

from django.utils import timezone

from controlplane.engine.jobs import job_schedule
from controlplane.engine.protocol import DISCOVERY
from controlplane.runs.history import history_append
from controlplane.runs.models import (
    PENDING_STEP_STATUSES,
    STATE_FIELDS,
    Job,
    JobKind,
    Run,
    RunStatus,
    Step,
    StepStatus,
)


def step_pending(
    run: Run, step_id: str, *, status: str, kind: str, name: str, race: bool = False, **details
):
    """Record a step that has started but has no result yet; False if the step already exists."""
    _step, created = Step.objects.get_or_create(
        run=run,
        step_id=step_id,
        defaults={"status": status, "kind": kind, "name": name, "race": race, "details": details},
    )
    return created


def step_memoize(
    run: Run,
    step_id: str,
    memo,
    *,
    failed: bool = False,
    name: str = "",
    kind: str | None = None,
    **details,
) -> Step | None:
    """Store the value the SDK will replay for this step, exactly once.

    Returns None (and changes nothing) if the step already has a result: a duplicate or late
    completion. Else the step.
    """
    step = Step.objects.filter(run=run, step_id=step_id).first()
    if step is not None and step.has_memo:
        return None
    run.memo_count += 1
    seq = run.memo_count
    fields = {
        "memo": memo,
        "has_memo": True,
        "memo_seq": seq,
        "status": StepStatus.FAILED if failed else StepStatus.COMPLETED,
        "ended_at": timezone.now(),
    }
    if step is None:
        return Step.objects.create(
            run=run, step_id=step_id, name=name, kind=kind or "run", details=details, **fields
        )
    for key, value in fields.items():
        setattr(step, key, value)
    if kind:
        step.kind = kind
    step.details = {**step.details, **details}
    step.save()
    return step


def run_state_save(run: Run) -> None:
    """Write the run's state fields the engine changed in memory during this transaction."""
    run.save(update_fields=STATE_FIELDS)


def discovery_schedule(run: Run, *, after_race: bool = False) -> None:
    """Call the app again (discovery) once nothing it started is still pending.

    Parallel steps fan in: the discovery waits for the whole group, unless a step of a race
    finished (`after_race`). Execution version 2 lets the SDK run steps immediately again once
    a group has finished (PROTOCOL.md 4.5).
    """
    if run.status not in (
        RunStatus.RUNNING,
        RunStatus.SLEEPING,
        RunStatus.WAITING,
        RunStatus.QUEUED,
    ):
        return
    pending = Step.objects.filter(run=run, status__in=PENDING_STEP_STATUSES).exists()
    if pending and not after_race:
        run_status_for_pending(run)
        return
    if Job.objects.filter(run=run, kind=JobKind.CALL, step_id=DISCOVERY).exists():
        return
    if run.sdk_version >= 2 and run.disable_immediate_execution and not pending:
        run.disable_immediate_execution = False
    run.status = RunStatus.RUNNING
    job_schedule(run, JobKind.CALL, step_id=DISCOVERY)


def run_status_for_pending(run: Run) -> None:
    """Running while any step is planned; else sleeping or waiting by what it waits on."""
    statuses = set(
        Step.objects.filter(run=run, status__in=PENDING_STEP_STATUSES).values_list(
            "status", flat=True
        )
    )
    if StepStatus.PLANNED in statuses or not statuses:
        status = RunStatus.RUNNING
    elif statuses == {StepStatus.SLEEPING}:
        status = RunStatus.SLEEPING
    else:
        status = RunStatus.WAITING
    run.status = status


def step_resolve_pending(
    run: Run, step: Step, memo, *, history_kind: str, failed: bool = False, **data
) -> None:
    """A sleep, wait or invoke got its result: memoize it and move the run on."""
    if not step_memoize(run, step.step_id, memo, failed=failed):
        return
    history_append(run, history_kind, step_id=step.step_id, step_name=step.name, **data)
    Job.objects.filter(run=run, kind=JobKind.RESUME, step_id=step.step_id).delete()
    discovery_schedule(run, after_race=step.race)
