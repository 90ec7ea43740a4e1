"""Defers (TS `defer()`): runs of a `createDefer` function that start once this run has ended.

The SDK reports them as lazy ops beside its other ops (DeferAdd, DeferAbort), in a call's
answer or a checkpoint, and again on every call until the request's `defers` lists them. A
defer never fails its parent: one that breaks a limit or is malformed is kept as rejected,
with the reason, and starts nothing. When the parent ends, however it ended, each defer still
due becomes an `inngest/deferred.schedule` event, which the target's trigger (an `if` on
`event.data._inngest.fn_slug`) picks up. Callers hold the run's lock.
"""

import json

from controlplane.engine.effects import Effects
from controlplane.engine.protocol import Op
from controlplane.runs.history import history_append
from controlplane.runs.models import DEFER_SCHEDULE_EVENT, Defer, DeferStatus, HistoryKind, Run

# Inngest's limits (docs/defer.md): distinct defers per run, bytes of one input and of all.
MAX_DEFERS_PER_RUN = 20
MAX_DEFER_INPUT_BYTES = 4 * 1024 * 1024


def defer_add(run: Run, op: Op) -> bool:
    """Keep the defer (insert-only: a re-report changes nothing); whether it was new."""
    known = defers_of(run)
    if op.id in known or len(known) >= MAX_DEFERS_PER_RUN:
        return False  # past the cap there is no room even for a rejection (as in Inngest)
    opts = op.opts
    slug, data, meta = opts.get("fn_slug"), opts.get("input", {}), opts.get("meta")
    size = len(json.dumps(data))
    reason = ""
    if not isinstance(slug, str) or not slug:
        reason = "`opts.fn_slug` must name the deferred function."
    elif not isinstance(data, dict):
        reason = "`opts.input` must be a JSON object."
    elif meta is not None and not isinstance(meta, dict):
        reason = "`opts.meta` must be a JSON object."
    elif size > MAX_DEFER_INPUT_BYTES:
        reason = f"Its input is {size} bytes; a defer takes at most {MAX_DEFER_INPUT_BYTES}."
    elif size + sum(d.input_bytes for d in known.values()) > MAX_DEFER_INPUT_BYTES:
        reason = f"The run's defers would hold more than {MAX_DEFER_INPUT_BYTES} bytes of input."
    defer = Defer.objects.create(
        run=run,
        hashed_id=op.id,
        name=op.user_name,
        function_slug=slug if isinstance(slug, str) else "",
        input=data if not reason else {},
        input_bytes=0 if reason else size,
        meta=meta if not reason else None,
        status=DeferStatus.REJECTED if reason else DeferStatus.AFTER_RUN,
        reason=reason,
    )
    known[op.id] = defer
    run.has_defers = True
    history_append(
        run,
        HistoryKind.DEFERRED,
        step_id=op.id,
        step_name=op.user_name,
        function=defer.function_slug,
        status=defer.status,
        **({"reason": reason} if reason else {}),
    )
    return True


def defer_abort(run: Run, op: Op) -> bool:
    """Abort a defer still due; whether one was."""
    target = defers_of(run).get(op.opts.get("target_hashed_id"))
    if target is None or target.status != DeferStatus.AFTER_RUN:
        return False
    target.status, target.input, target.input_bytes = DeferStatus.ABORTED, {}, 0
    target.save(update_fields=["status", "input", "input_bytes"])
    history_append(run, HistoryKind.DEFER_ABORTED, step_id=target.hashed_id, step_name=target.name)
    return True


def defers_of(run: Run) -> dict[str, Defer]:
    """The run's defers by hashed id, read once per locked run instance."""
    known = getattr(run, "_defers", None)
    if known is None:
        rows = run.defers.all() if run.has_defers else []
        known = run._defers = {d.hashed_id: d for d in rows}
    return known


def defers_for_request(run: Run) -> dict[str, dict]:
    """The request's `defers`: what the SDK must not report again, and whether it may still
    abort it."""
    if not run.has_defers:
        return {}
    rows = run.defers.values_list("hashed_id", "status")
    return {hashed: {"abortable": status == DeferStatus.AFTER_RUN} for hashed, status in rows}


def defers_schedule(run: Run, fx: Effects) -> None:
    """The run has ended: each defer still due starts its run."""
    due = [d for d in defers_of(run).values() if d.status == DeferStatus.AFTER_RUN]
    for defer in due:
        linkage = {
            "fn_slug": defer.function_slug,
            "parent_fn_slug": run.function.slug,
            "parent_fn_id": str(run.function.public_id),
            "parent_app_id": run.function.app.app_id,
            "parent_run_id": run.public_id,
        }
        payload = {
            "name": DEFER_SCHEDULE_EVENT,
            "id": defer.event_id,
            "data": {**defer.input, "_inngest": linkage},
        }
        if defer.meta:
            payload["meta"] = defer.meta
        fx.emit(run.environment, payload)
    if due:
        Defer.objects.filter(pk__in=[d.pk for d in due]).update(status=DeferStatus.SCHEDULED)
