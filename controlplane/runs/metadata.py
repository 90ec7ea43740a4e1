"""Run metadata (TS `inngest.metadata`, `client.score` / `step.score`, AI span attributes).

The SDK sends updates `{"kind", "op", "values"}`: riding on a step's op (each with a `scope`)
when written inside that step, else to POST /v1/runs/{id}/metadata with a `target`. Each
update is combined into one row per (target, kind) the way Inngest combines them
(pkg/tracing/metadata: merge, set, delete, add). Inngest's limits hold: an update of at most
64 KiB, and a run holds at most 1 MiB. Updates are checked whole before any is stored.
"""

import hashlib
import json
import logging
import math
from dataclasses import dataclass

from django.db import transaction

from controlplane.events.validation import EventRejected, ensure_storable
from controlplane.refusals import Refused
from controlplane.runs.history import history_append
from controlplane.runs.models import HistoryKind, MetadataScope, Run, RunMetadata

logger = logging.getLogger(__name__)

MAX_UPDATE_BYTES = 64 * 1024
MAX_RUN_BYTES = 1024 * 1024
MAX_KIND_LENGTH = 128
MAX_SCORE_NAME_BYTES = 128
OPS = ("merge", "set", "delete", "add")
SCORE_KIND = "inngest.score"
AI_KIND = "inngest.ai"
# The inngest.* kinds an SDK may write (Inngest's allowlist); others would spoof the server's.
INNGEST_KINDS = frozenset(
    {
        AI_KIND,
        "inngest.http",
        "inngest.http.timing",
        "inngest.response_headers",
        "inngest.warnings",
        "inngest.experiment",
        SCORE_KIND,
    }
)
# The scopes a step op's metadata names (TS getBatchScope); step_attempt is Inngest's legacy
# name for step.
_OP_SCOPES = {
    "run": MetadataScope.RUN,
    "step": MetadataScope.STEP,
    "step_attempt": MetadataScope.STEP,
}


class MetadataRefused(Refused):
    pass


@dataclass(frozen=True)
class Update:
    kind: str
    op: str
    values: dict


@dataclass(frozen=True)
class Target:
    scope: str
    step_id: str = ""  # hashed
    step_name: str = ""
    span_id: str = ""
    attempt: int | None = None


def parse_updates(raw, *, where: str = "metadata") -> list[Update]:
    """The updates of a request or op, or MetadataRefused naming the first bad one."""
    if not isinstance(raw, list):
        raise MetadataRefused(f"`{where}` must be a list of updates.")
    return [_parse_update(item, f"{where}[{i}]") for i, item in enumerate(raw)]


def _parse_update(item, where: str) -> Update:
    if not isinstance(item, dict):
        raise MetadataRefused(f"`{where}` must be an object with `kind`, `op` and `values`.")
    kind, op, values = item.get("kind"), item.get("op"), item.get("values")
    if not isinstance(kind, str) or not kind:
        raise MetadataRefused(f"`{where}.kind` must be a non-empty string.")
    if len(kind) > MAX_KIND_LENGTH:
        raise MetadataRefused(f"`{where}.kind` is longer than {MAX_KIND_LENGTH} characters.")
    if kind.startswith("inngest.") and kind not in INNGEST_KINDS:
        raise MetadataRefused(f"`{where}.kind` {kind!r} is reserved for the server.")
    if op not in OPS:
        raise MetadataRefused(f"`{where}.op` must be one of {', '.join(OPS)}.")
    if not isinstance(values, dict):
        raise MetadataRefused(f"`{where}.values` must be a JSON object.")
    if kind == SCORE_KIND:
        _check_scores(values, where)
    if (size := values_size(values)) > MAX_UPDATE_BYTES:
        raise MetadataRefused(
            f"`{where}` is {size} bytes; an update holds at most {MAX_UPDATE_BYTES}.", 413
        )
    try:
        ensure_storable({"kind": kind, "values": values})  # an op's come unchecked so far
    except EventRejected as exc:
        raise MetadataRefused(f"`{where}` cannot be stored: {exc.message}") from None
    return Update(kind, op, values)


def _check_scores(values: dict, where: str) -> None:
    """Each score is `{"<name>": {"value": <finite number or boolean>}}` (Inngest's rules)."""
    for name, score in values.items():
        if len(name.encode()) > MAX_SCORE_NAME_BYTES or any(
            ord(c) < 0x20 or c in "\x7f'" for c in name
        ):
            raise MetadataRefused(
                f"`{where}`: score name {name!r} must be at most {MAX_SCORE_NAME_BYTES} bytes, "
                "without control characters or single quotes."
            )
        value = (
            score.get("value") if isinstance(score, dict) and score.keys() == {"value"} else None
        )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not (isinstance(value, bool) or (number and math.isfinite(value))):
            raise MetadataRefused(
                f'`{where}`: score {name!r} must be {{"value": <finite number or boolean>}}.'
            )


def values_size(values: dict) -> int:
    """Inngest's measure: each key's length plus its value's JSON length."""
    return sum(len(k) + len(json.dumps(v, separators=(",", ":"))) for k, v in values.items())


def combine(current: dict, update: Update) -> dict:
    if update.op == "set":
        return dict(update.values)
    if update.op == "delete":
        return {k: v for k, v in current.items() if k not in update.values}
    if update.op == "add":
        out = dict(current)
        for key, value in update.values.items():
            if not _is_number(out.get(key)):
                out[key] = value
            elif _is_number(value):
                out[key] += value
        return out
    return {**current, **update.values}


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def metadata_apply(run: Run, target: Target, updates: list[Update]) -> None:
    """Combine `updates` into the target's rows, all or none: MetadataRefused (413) when the
    run would hold more than MAX_RUN_BYTES. The caller holds the run's lock."""
    rows = {
        row.kind: row
        for row in run.metadata.filter(
            scope=target.scope, step_id=target.step_id, span_id=target.span_id
        )
    }
    for update in updates:
        row = rows.get(update.kind) or RunMetadata(
            run=run,
            scope=target.scope,
            step_id=target.step_id,
            step_name=target.step_name[:512],
            span_id=target.span_id,
            kind=update.kind,
        )
        row.values = combine(row.values, update)
        row.size, row.attempt = len(update.kind) + values_size(row.values), target.attempt
        rows[update.kind] = row
    changed = list(dict.fromkeys(u.kind for u in updates))  # saved in the order they came
    others = run.metadata.exclude(
        scope=target.scope, step_id=target.step_id, span_id=target.span_id, kind__in=changed
    )
    total = sum(rows[k].size for k in changed) + sum(others.values_list("size", flat=True))
    if total > MAX_RUN_BYTES:
        raise MetadataRefused(
            f"The run would hold {total} bytes of metadata; a run holds at most {MAX_RUN_BYTES}.",
            413,
        )
    for kind in changed:
        rows[kind].save()


def op_metadata_apply(run: Run, op, *, attempt: int) -> None:
    """The updates riding on a step's op, all or none: a bad one drops them with a warning
    (Inngest drops it too), never failing the step."""
    raw, step_id = op.metadata, op.id
    try:
        if not isinstance(raw, list):
            raise MetadataRefused("`metadata` must be a list of updates.")
        by_scope: dict[str, list[Update]] = {}
        for i, item in enumerate(raw):
            scope = _OP_SCOPES.get(item.get("scope") if isinstance(item, dict) else None)
            if scope is None:
                raise MetadataRefused(f"`metadata[{i}].scope` must be run or step.")
            by_scope.setdefault(scope, []).append(_parse_update(item, f"metadata[{i}]"))
        with transaction.atomic():  # a savepoint: both scopes or neither
            for scope, updates in by_scope.items():
                step = (op.id, op.user_name) if scope == MetadataScope.STEP else ("", "")
                metadata_apply(run, Target(scope, *step, attempt=attempt), updates)
    except MetadataRefused as refused:
        logger.warning("metadata of step %s of run %s dropped: %s", step_id, run, refused.message)


@dataclass(frozen=True)
class Request:
    """A POST /v1/runs/{id}/metadata body, checked whole."""

    target: Target
    updates: list[Update]


def parse_request(run_id: str, body: dict) -> Request:
    """`{"target": {"run_id", "step_id"?, "step_index"?, "step_attempt"?, "span_id"?},
    "metadata": [updates]}`; the step is named by the user's id, hashed here as the SDK hashes
    it (PROTOCOL.md 1)."""
    target = body.get("target", {})
    if not isinstance(target, dict):
        raise MetadataRefused("`target` must be an object.")
    if target.get("run_id", run_id) != run_id:
        raise MetadataRefused("`target.run_id` must be the run of the URL.")
    step, index = target.get("step_id"), target.get("step_index")
    attempt, span = target.get("step_attempt"), target.get("span_id")
    if step is None and (index, attempt, span) != (None, None, None):
        raise MetadataRefused(
            "`target.step_id` must be given with `step_index`, `step_attempt` or `span_id`."
        )
    if step is not None and (not isinstance(step, str) or not step):
        raise MetadataRefused("`target.step_id` must be a non-empty string.")
    for name, value in (("step_index", index), ("step_attempt", attempt)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise MetadataRefused(f"`target.{name}` must be a whole number.")
    if index is not None and index < 0:
        raise MetadataRefused("`target.step_index` must not be negative.")
    if span is not None and (not isinstance(span, str) or not 0 < len(span) <= 64):
        raise MetadataRefused("`target.span_id` must be a string of at most 64 characters.")
    updates = parse_updates(body.get("metadata"))
    attempt = attempt if attempt is not None and attempt >= 0 else None  # -1: the last one
    if step is None:
        return Request(Target(MetadataScope.RUN), updates)
    hashed = hashlib.sha1((f"{step}:{index}" if index else step).encode()).hexdigest()
    scope = MetadataScope.STEP if span is None else MetadataScope.SPAN
    return Request(Target(scope, hashed, step, span or "", attempt), updates)


def run_metadata_update(*, environment, run_id: str, request: Request) -> None:
    """Store an SDK's metadata update of a run of `environment` (MetadataRefused 404 for any
    other run). One transaction under the run's lock; a `metadata` timeline row tells the
    run's live pages."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .filter(environment=environment, public_id=run_id)
            .first()
        )
        if run is None:
            raise MetadataRefused("Run not found.", 404)
        if not request.updates:
            return
        metadata_apply(run, request.target, request.updates)
        history_append(
            run,
            HistoryKind.METADATA,
            step_id=request.target.step_id,
            step_name=request.target.step_name,
            attempt=request.target.attempt,
            scope=request.target.scope,
            kinds=sorted({u.kind for u in request.updates}),
        )
