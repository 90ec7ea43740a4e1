"""Durable endpoints (sync checkpointing, PROTOCOL.md 4.10): a TypeScript SDK app's own HTTP route
(`inngest.endpoint(handler)`) runs its steps inside the request it serves and checkpoints them
here, so no event and no sync start it.

The first checkpoint (POST /v1/checkpoint) creates the run, with the route's app and function
the first time the route is seen; later ones (/v1/checkpoint/{run}/steps) add steps and, with
RunComplete, finish it. A step the request cannot finish (a sleep, a wait, a retry) turns the
run async: from then on it advances by jobs like any run, and the engine calls the route back as
its caller did (`client.endpoint_call`), the SDK loading the run's state from /v0.
"""

import re
from dataclasses import dataclass

from django.core import signing
from django.db import transaction
from django.utils import timezone

from controlplane.engine.checkpoint import CheckpointRefused, parse_checkpoint_ops
from controlplane.engine.client import CallOutcome
from controlplane.engine.effects import Effects
from controlplane.engine.execute import run_mark_started
from controlplane.engine.ops import CHECKPOINT_OPS, apply_outcome, checkpoint_apply
from controlplane.engine.protocol import DISCOVERY
from controlplane.engine.settle import settle
from controlplane.engine.steps import run_state_save
from controlplane.events.models import EventSource
from controlplane.events.services import events_ingest
from controlplane.ids import is_ulid
from controlplane.registry.models import DEFAULT_RETRIES, MAX_RETRIES, App, Function
from controlplane.runs.history import history_append, history_batched
from controlplane.runs.models import HistoryKind, Job, JobKind, Run, RunStatus

ENDPOINT_EVENT = "inngest/http.request"  # the TS SDK names the run's trigger so
ENDPOINT_FRAMEWORK = "durable endpoint"  # App.framework of the apps made here
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ORIGIN = re.compile(r"^https?://[^/?#\s]+$")
_TOKEN_SALT = "controlplane.endpoints.output"
TOKEN_MAX_AGE = 24 * 3600  # how long a caller may fetch a run's output with its token


@dataclass(frozen=True)
class NewEndpointRun:
    run_id: str
    request: dict  # the caller's request: domain, method, path, query_params, body, ...
    ops: list
    version: int
    retries: int

    @property
    def function_name(self) -> str:
        """As Inngest names it: the SDK's function id, else "GET /api/hello"."""
        return self.request["fn"] or f"{self.request['method']} {self.request['path']}"


def new_run_parse(body: dict) -> NewEndpointRun:
    """POST /v1/checkpoint's body, checked whole before anything is stored."""
    run_id = body.get("run_id")
    if not isinstance(run_id, str) or not is_ulid(run_id):
        raise CheckpointRefused("`run_id` must be a ULID (the SDK makes one per request).")
    event = body.get("event")
    if not isinstance(event, dict) or event.get("name") != ENDPOINT_EVENT:
        raise CheckpointRefused(f"`event` must be the SDK's {ENDPOINT_EVENT} event.")
    request = _request_data(event.get("data"))
    version, retries = body.get("request_version", 2), body.get("retries", DEFAULT_RETRIES)
    for name, value in (("request_version", version), ("retries", retries)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckpointRefused(f"`{name}` must be a non-negative integer.")
    ops = parse_checkpoint_ops(body.get("steps") or [], allowed=None)
    return NewEndpointRun(run_id, request, ops, version, min(retries, MAX_RETRIES))


def _request_data(data) -> dict:
    if not isinstance(data, dict):
        raise CheckpointRefused("`event.data` must describe the endpoint's request.")
    fields = ("domain", "method", "path", "query_params", "body", "content_type", "ip", "fn")
    request = {name: data.get(name) or "" for name in fields}
    if not all(isinstance(value, str) for value in request.values()):
        raise CheckpointRefused(f"`event.data`: {', '.join(fields)} must be strings.")
    if not _ORIGIN.match(request["domain"]) or len(request["domain"]) > 255:
        raise CheckpointRefused("`event.data.domain` must be the route's scheme and host.")
    if request["method"] not in METHODS:
        raise CheckpointRefused(f"`event.data.method` must be one of {', '.join(sorted(METHODS))}.")
    if not request["path"].startswith("/"):
        raise CheckpointRefused("`event.data.path` must be the route's path.")
    return request


def endpoint_run_start(*, environment, sdk: str, checkpoint: NewEndpointRun) -> Run:
    """Create the run (and the route's app and function, the first time), with the steps the
    first checkpoint carries. A run id seen before is refused: the SDK made it for one request."""
    now = timezone.now()
    with transaction.atomic():
        function = _endpoint_function(environment, checkpoint, sdk)
        if Run.objects.filter(public_id=checkpoint.run_id).exists():
            raise CheckpointRefused("Run already exists.", 409)
        [ingested] = events_ingest(
            environment=environment,
            payloads=[{"name": ENDPOINT_EVENT, "data": checkpoint.request}],
            source=EventSource.INTERNAL,
        )
        run = Run.objects.create(
            public_id=checkpoint.run_id,
            environment=environment,
            function=function,
            function_version=function.version,
            event=ingested.event,
            status=RunStatus.RUNNING,
            sdk_version=checkpoint.version,
        )
        run.events.add(ingested.event)
        with history_batched(run):
            history_append(
                run,
                HistoryKind.SCHEDULED,
                event=ingested.event.public_id,
                event_name=ENDPOINT_EVENT,
            )
            run_mark_started(run, now)
            _store(run, checkpoint.ops)
    return run


def _endpoint_function(environment, checkpoint: NewEndpointRun, sdk: str) -> Function:
    """The route's app (one per origin) and function, made or brought up to date."""
    domain, name = checkpoint.request["domain"], checkpoint.function_name
    app, _ = App.objects.get_or_create(
        environment=environment,
        app_id=domain,
        defaults={"url": domain, "sdk": sdk, "framework": ENDPOINT_FRAMEWORK},
    )
    if app.framework != ENDPOINT_FRAMEWORK:
        raise CheckpointRefused(f"App {domain!r} is synced by URL: it serves no durable endpoints.")
    if app.is_archived:
        raise CheckpointRefused(f"App {domain!r} is archived: it starts no runs.", 409)
    config = _function_config(domain, checkpoint)
    slug = f"{domain} {name}"
    if len(slug) > 255:
        raise CheckpointRefused("The route is too long to name a function: give it a function id.")
    function, created = Function.objects.select_for_update().get_or_create(
        environment=environment, slug=slug, defaults={"app": app, "name": name, "config": config}
    )
    if not created and function.config != config:
        function.config, function.version = config, function.version + 1
        function.save(update_fields=["config", "version", "updated_at"])
    if function.paused_at is not None:
        raise CheckpointRefused(f"Function {name!r} is paused: it starts no runs.", 409)
    return function


def _function_config(domain: str, checkpoint: NewEndpointRun) -> dict:
    """A FunctionConfig as a sync would store it; `endpoint` marks how the engine calls it."""
    name = checkpoint.function_name
    return {
        "id": name,
        "name": name,
        "triggers": [],
        "endpoint": {"method": checkpoint.request["method"], "path": checkpoint.request["path"]},
        "steps": {
            "step": {
                "id": "step",
                "name": name,
                "runtime": {"type": "http", "url": domain + checkpoint.request["path"]},
                "retries": {"attempts": checkpoint.retries},
            }
        },
    }


def endpoint_steps_store(*, environment, run_id: str, fn_id, ops: list) -> None:
    """Steps the route ran after the first checkpoint, its return (RunComplete), or the step
    that turns the run async."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",))
            .select_related("function__app", "environment", "event")
            .filter(environment=environment, public_id=run_id)
            .first()
        )
        if run is None:
            raise CheckpointRefused("Run not found.", 404)
        if str(run.function.public_id) != fn_id or "endpoint" not in run.function.config:
            raise CheckpointRefused("`fn_id` is not the run's durable endpoint.")
        if run.is_finished:
            raise CheckpointRefused("The run has finished: its steps are stored.", 409)
        with history_batched(run):
            _store(run, ops)


def _store(run: Run, ops: list) -> None:
    """As the classic path stores a call's answer, the request standing in for the call: steps
    that ran are kept and the request goes on; any other op (a sleep, a retry, the return) is
    applied as an answer would be, scheduling what follows."""
    if not ops:
        return
    request = Job(run=run, kind=JobKind.CALL, step_id=DISCOVERY, payload={"job_id": run.public_id})
    if all(op.op in CHECKPOINT_OPS for op in ops):
        checkpoint_apply(run, request, ops)
        run_state_save(run)
        return
    fx = Effects()
    apply_outcome(run, request, CallOutcome(kind="ops", ops=ops), fx=fx)
    if not run.is_finished:
        run_state_save(run)
    settle(fx)


def output_token(run: Run) -> str:
    """What lets the endpoint's caller (redirected once the run went async) read its output."""
    return signing.dumps({"e": run.environment_id, "r": run.public_id}, salt=_TOKEN_SALT)


def output_token_run(token: str, run_id: str) -> Run | None:
    try:
        claims = signing.loads(token, salt=_TOKEN_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None
    if claims.get("r") != run_id:
        return None
    return Run.objects.filter(environment_id=claims.get("e"), public_id=run_id).first()


def stream_token(run: Run) -> str:
    """The grant the SDK asks for with a new run (`realtime_token`): subscribing to the run's
    stream channel, which the route's caller follows once the run went async. Realtime is not
    served yet; the SDK requires the grant in the answer all the same."""
    claims = {"e": run.environment_id, "channel": run.public_id, "topics": ["$stream"]}
    return signing.dumps(claims, salt="controlplane.realtime.subscribe")
