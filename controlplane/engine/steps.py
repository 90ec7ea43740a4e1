"""Memoizing step results and deciding when to call the app again.

Callers hold the run lock and save the run's state fields once at the end of their transaction
(`run_state_save`): these functions change the run in memory only.

Under the lock nobody else writes the run's steps, so the first function that needs them reads
them once (`run_steps`, without their memos) and every later decision of the transaction is
made from that snapshot, which the writes here keep up to date: no existence checks per op.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
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


@dataclass
class KnownStep:
    """What the engine needs to know of a stored step: everything but its memo and details."""

    pk: int
    step_id: str
    name: str
    kind: str
    status: str
    has_memo: bool
    race: bool


# The one read: the run's steps, plus a row per queued discovery call (marked by its kind).
_QUEUED_DISCOVERY = "job:discovery"
_RUN_STEPS_SQL = (
    "SELECT id, step_id, name, kind, status, has_memo, race FROM {step} WHERE run_id = %s "
    "UNION ALL SELECT id, step_id, '', %s, '', %s, %s FROM {job} "
    "WHERE run_id = %s AND kind = %s AND step_id = %s"
)


def run_steps(run: Run) -> dict[str, KnownStep]:
    """The run's steps by step id, read once per locked run instance (callers hold the lock).

    The same query tells whether a discovery call is queued (`discovery_queued`).
    """
    known = getattr(run, "_known_steps", None)
    if known is None:
        sql = _RUN_STEPS_SQL.format(step=Step._meta.db_table, job=Job._meta.db_table)
        params = [run.pk, _QUEUED_DISCOVERY, False, False, run.pk, JobKind.CALL, DISCOVERY]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        known = run._known_steps = {}
        for row in rows:
            if row[3] == _QUEUED_DISCOVERY:
                run._discovery_queued = True
            else:
                known[row[1]] = KnownStep(
                    row[0], row[1], row[2], row[3], row[4], bool(row[5]), bool(row[6])
                )
    return known


def discovery_queued(run: Run) -> bool:
    """Whether a discovery call of the run is queued (read with its steps, kept up to date by
    `job_schedule` for the rest of the transaction)."""
    run_steps(run)
    return bool(getattr(run, "_discovery_queued", False))


def step_pending(
    run: Run, step_id: str, *, status: str, kind: str, name: str, race: bool = False, **details
):
    """Record a step that has started but has no result yet; False if the step already exists."""
    known = run_steps(run)
    if step_id in known:
        return False
    step = Step.objects.create(
        run=run, step_id=step_id, status=status, kind=kind, name=name, race=race, details=details
    )
    known[step_id] = KnownStep(step.pk, step_id, name, kind, status, False, race)
    return True


def step_memoize(
    run: Run,
    step_id: str,
    memo,
    *,
    failed: bool = False,
    name: str = "",
    kind: str | None = None,
    attempt: Job | None = None,
) -> KnownStep | None:
    """Store the value the SDK will replay for this step, exactly once. `attempt`: the call
    whose answer carried it; the step then says which attempt that was and when it began.

    Returns None (and changes nothing) if the step already has a result: a duplicate or late
    completion. Else the step.
    """
    known = run_steps(run)
    step = known.get(step_id)
    if step is not None and step.has_memo:
        return None
    run.memo_count += 1
    status = StepStatus.FAILED if failed else StepStatus.COMPLETED
    ended = timezone.now()
    fields = {
        "memo": memo,
        "has_memo": True,
        "memo_seq": run.memo_count,
        "status": status,
        "ended_at": ended,
    }
    if attempt is not None:
        fields["attempts"] = attempt.attempt
        # Never after its end: the claim may have been stamped by another machine's clock.
        fields["started_at"] = min(attempt.claimed_at or ended, ended)
    if step is None:
        fields.setdefault("started_at", ended)
        created = Step.objects.create(
            run=run, step_id=step_id, name=name, kind=kind or "run", **fields
        )
        step = known[step_id] = KnownStep(
            created.pk, step_id, name, created.kind, status, True, False
        )
        return step
    if kind:
        fields["kind"] = step.kind = kind
    Step.objects.filter(pk=step.pk).update(**fields)
    step.status, step.has_memo = status, True
    return step


def run_state_save(run: Run) -> None:
    """Write the run's state fields the engine changed in memory during this transaction."""
    run.save(update_fields=STATE_FIELDS)


def has_pending_steps(run: Run) -> bool:
    return any(step.status in PENDING_STEP_STATUSES for step in run_steps(run).values())


def discovery_schedule(
    run: Run, *, after_race: bool = False, at: datetime | None = None, payload=None
) -> None:
    """Call the app again (discovery) once nothing it started is still pending (at `at`, with
    the job's `payload`, when given).

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
    pending = has_pending_steps(run)
    if pending and not after_race:
        run_status_for_pending(run)
        return
    if discovery_queued(run):
        return
    if run.sdk_version >= 2 and run.disable_immediate_execution and not pending:
        run.disable_immediate_execution = False
    run.status = RunStatus.RUNNING
    job_schedule(run, JobKind.CALL, step_id=DISCOVERY, at=at, payload=payload)


def run_status_for_pending(run: Run) -> None:
    """Running while any step is planned; else sleeping or waiting by what it waits on."""
    statuses = {
        step.status for step in run_steps(run).values() if step.status in PENDING_STEP_STATUSES
    }
    if StepStatus.PLANNED in statuses or not statuses:
        status = RunStatus.RUNNING
    elif statuses == {StepStatus.SLEEPING}:
        status = RunStatus.SLEEPING
    else:
        status = RunStatus.WAITING
    run.status = status


def step_resolve_pending(
    run: Run, step: Step | KnownStep, memo, *, history_kind: str, failed: bool = False, **data
) -> None:
    """A sleep, wait or invoke got its result: memoize it and move the run on."""
    if not step_memoize(run, step.step_id, memo, failed=failed):
        return
    history_append(run, history_kind, step_id=step.step_id, step_name=step.name, **data)
    Job.objects.filter(run=run, kind=JobKind.RESUME, step_id=step.step_id).delete()
    discovery_schedule(run, after_race=step.race)
