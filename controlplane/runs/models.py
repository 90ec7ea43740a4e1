"""Runs, their memoized steps, their timeline, and the jobs that advance them.

The database is the source of truth: a run advances only by jobs (rows with `available_at` and
a lease), and every state change is one transaction.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from controlplane.events.models import Event
from controlplane.fields import public_id_field
from controlplane.registry.models import Function
from controlplane.tenancy.models import Environment


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SLEEPING = "sleeping", "Sleeping"
    WAITING = "waiting", "Waiting"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# What the engine changes on a run while it runs; saved once per transaction.
STATE_FIELDS = [
    "status",
    "started_at",
    "sdk_version",
    "disable_immediate_execution",
    "memo_count",
    "has_defers",
]
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SLEEPING, RunStatus.WAITING)
FINISHED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Run(models.Model):
    public_id = public_id_field()  # the run id the SDK sees
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="runs")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="runs")
    function_version = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    events = models.ManyToManyField(Event, related_name="runs")
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # Execution version negotiated with the SDK (PROTOCOL.md 4.8): -1 until the first answer.
    sdk_version = models.SmallIntegerField(default=-1)
    # After a response with several ops, later calls ask the SDK to plan, not run (4.5).
    disable_immediate_execution = models.BooleanField(default=False)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    parent_step_id = models.CharField(max_length=64, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # Flow control, evaluated once from the triggering event (controlplane/flow/keys.py).
    priority = models.SmallIntegerField(default=0)  # seconds ahead (+) or behind (-) in its queue
    concurrency = models.JSONField(default=list, blank=True)  # [[queue key, limit], ...]
    singleton_key = models.CharField(max_length=40, blank=True)
    memo_count = models.PositiveIntegerField(default=0)  # steps memoized so far: the next one's seq
    has_defers = models.BooleanField(default=False)  # spares the calls of most runs a query
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["environment", "-queued_at", "-id"], name="run_env_recent"),
            models.Index(fields=["function", "-queued_at", "-id"], name="run_function_recent"),
            # The runs list's status filter, paginated on (queued_at, id).
            models.Index(
                fields=["environment", "status", "-queued_at", "-id"], name="run_env_status_keyset"
            ),
            models.Index(
                fields=["function", "status", "-queued_at", "-id"], name="run_fn_status_keyset"
            ),
            models.Index(
                fields=["function", "singleton_key"],
                name="run_singleton_active",
                condition=~Q(singleton_key="")
                & Q(status__in=["queued", "running", "sleeping", "waiting"]),
            ),
        ]

    def __str__(self):
        return f"run {self.public_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class StepStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    SLEEPING = "sleeping", "Sleeping"
    WAITING = "waiting", "Waiting"
    INVOKING = "invoking", "Invoking"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


PENDING_STEP_STATUSES = (
    StepStatus.PLANNED,
    StepStatus.SLEEPING,
    StepStatus.WAITING,
    StepStatus.INVOKING,
)


class StepKind(models.TextChoices):
    RUN = "run", "Run"
    SLEEP = "sleep", "Sleep"
    WAIT = "waitForEvent", "Wait for event"
    INVOKE = "invoke", "Invoke"
    SEND_EVENT = "sendEvent", "Send event"


class Step(models.Model):
    """One step of a run, keyed by the SDK's hashed step id; `memo` is what the SDK replays.

    Unique per (run, step id): a duplicate completion of the same step is a no-op.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    step_id = models.CharField(max_length=64)
    name = models.CharField(max_length=512, blank=True)  # the user's step id ("fetch-user")
    kind = models.CharField(max_length=16, choices=StepKind.choices, default=StepKind.RUN)
    status = models.CharField(max_length=10, choices=StepStatus.choices)
    memo = models.JSONField(null=True, blank=True)
    has_memo = models.BooleanField(default=False)  # memo may legitimately be null (sleep)
    memo_seq = models.PositiveIntegerField(null=True, blank=True)  # completion order (ctx.stack)
    attempts = models.PositiveSmallIntegerField(default=0)
    race = models.BooleanField(default=False)  # opts.parallelMode == "race"
    details = models.JSONField(default=dict, blank=True)  # wake time, awaited event, child run ...
    # With a result: when the attempt that produced it began (a sleep: when it fell asleep).
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "step_id"], name="step_unique_per_run")
        ]

    def __str__(self):
        return f"{self.name or self.step_id} ({self.status})"


# The event a run's defers start their runs from, once the run has ended.
DEFER_SCHEDULE_EVENT = "inngest/deferred.schedule"


class DeferStatus(models.TextChoices):
    AFTER_RUN = "after_run", "Starts when the run ends"
    ABORTED = "aborted", "Aborted"
    REJECTED = "rejected", "Rejected"
    SCHEDULED = "scheduled", "Scheduled"


class Defer(models.Model):
    """A run of another function the run asked for with `defer()` (TS DeferAdd): it starts
    from an `inngest/deferred.schedule` event (id `event_id`) once this run has ended,
    however it ended.

    Unique per (run, hashed id): the SDK reports a defer again until the request lists it.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="defers")
    hashed_id = models.CharField(max_length=64)
    name = models.CharField(max_length=512, blank=True)
    function_slug = models.CharField(max_length=255)
    input = models.JSONField(default=dict, blank=True)
    input_bytes = models.PositiveIntegerField(default=0)
    meta = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=DeferStatus.choices)
    reason = models.CharField(max_length=255, blank=True)  # why it was rejected
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "hashed_id"], name="defer_unique_per_run")
        ]

    def __str__(self):
        return f"defer {self.name or self.hashed_id} ({self.status})"

    @property
    def event_id(self) -> str:
        """The schedule event's id: one per (run, defer), however often the run's end is
        processed."""
        return f"defer:{self.run.public_id}:{self.hashed_id}"


class MetadataScope(models.TextChoices):
    RUN = "run", "Run"
    STEP = "step", "Step"
    SPAN = "extended_trace", "Span"  # a span the app exported, under a step


class RunMetadata(models.Model):
    """What the SDK attached to a run, a step or a span of a step: one row per (target, kind),
    its `values` combined from every update (TS `inngest.metadata`, scores as kind
    `inngest.score`, AI span attributes as `inngest.ai`). `size` counts toward the run's limit
    (controlplane/runs/metadata.py)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metadata")
    scope = models.CharField(max_length=14, choices=MetadataScope.choices)
    step_id = models.CharField(max_length=64, blank=True)  # hashed, as the steps table has it
    step_name = models.CharField(max_length=512, blank=True)  # the user's step id
    span_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=128)
    values = models.JSONField(default=dict)
    size = models.PositiveIntegerField(default=0)
    attempt = models.PositiveSmallIntegerField(null=True, blank=True)  # of the last update
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "scope", "step_id", "span_id", "kind"], name="metadata_unique"
            )
        ]

    def __str__(self):
        return f"{self.kind} of {self.scope} {self.step_id or self.run_id}"


class HistoryKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    STARTED = "started", "Started"
    STEP_STARTED = "step_started", "Step started"
    STEP_COMPLETED = "step_completed", "Step completed"
    STEP_ERRORED = "step_errored", "Step errored"
    STEP_FAILED = "step_failed", "Step failed"
    RETRY_SCHEDULED = "retry_scheduled", "Retry scheduled"
    SLEEPING = "sleeping", "Sleeping"
    WAITING = "waiting", "Waiting for event"
    WAIT_RESOLVED = "wait_resolved", "Wait resolved"
    INVOKED = "invoked", "Invoked function"
    INVOKE_RESOLVED = "invoke_resolved", "Invoked function finished"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    DISCARDED = "discarded", "Late result discarded"
    IDLE_CALL = "idle_call", "Call made no progress"
    DEFERRED = "deferred", "Deferred run added"
    DEFER_ABORTED = "defer_aborted", "Deferred run aborted"
    METADATA = "metadata", "Metadata updated"
    SPANS = "spans", "Spans exported"
    WORKER_LOST = "worker_lost", "Worker lost, called again"


class RunHistory(models.Model):
    """The run's append-only timeline; the live view streams these rows."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=16, choices=HistoryKind.choices)
    step_id = models.CharField(max_length=64, blank=True)
    step_name = models.CharField(max_length=512, blank=True)
    attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["run", "id"], name="history_run_order")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.run_id} {self.kind}"


class JobKind(models.TextChoices):
    CALL = "call", "Call the app"  # discovery (step_id "step") or one targeted step
    RESUME = "resume", "Resume a step"  # sleep over, wait or invoke timed out
    FINISH_TIMEOUT = "finish_timeout", "Finish timeout"


class Job(models.Model):
    """Work that advances a run, due at `available_at`; claimed by a worker with a lease.

    A worker that dies loses only its lease: once `lease_until` passes, the job is claimable
    again. The job row is deleted in the transaction that stores its outcome.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="jobs")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    step_id = models.CharField(max_length=64, default="step")
    attempt = models.PositiveSmallIntegerField(default=0)
    payload = models.JSONField(default=dict, blank=True)
    available_at = models.DateTimeField()
    # Claim order: available_at moved by the run's priority (controlplane/flow).
    sort_at = models.DateTimeField()
    # Concurrency queues an app call of this job takes a slot in (calls only; up to two limits).
    ck1 = models.CharField(max_length=80, blank=True)
    ck1_limit = models.PositiveIntegerField(default=0)
    ck2 = models.CharField(max_length=80, blank=True)
    ck2_limit = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    # When the lease holder took the job: the start of its attempt.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Celery backend: when the job was last sent to the broker.
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["environment", "sort_at", "id"],
                name="job_due",
                condition=Q(lease_until__isnull=True),
            ),
            models.Index(
                fields=["lease_until"], name="job_leased", condition=Q(lease_until__isnull=False)
            ),
            models.Index(fields=["ck1"], name="job_ck1", condition=~Q(ck1="")),
            models.Index(fields=["ck2"], name="job_ck2", condition=~Q(ck2="")),
            models.Index(fields=["run", "kind", "step_id"], name="job_run_step"),
        ]

    def __str__(self):
        return f"{self.kind} {self.step_id} of run {self.run_id}"


class WaitKind(models.TextChoices):
    STEP = "step", "waitForEvent step"
    CANCEL = "cancel", "cancelOn"


class Wait(models.Model):
    """A run paused until an event: a waitForEvent step, or a cancelOn subscription.

    Incoming events look up open waits by (environment, event name); the first match resolves a
    wait exactly once (conditional update on `resolved_at IS NULL`).
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="waits")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=6, choices=WaitKind.choices)
    step_id = models.CharField(max_length=64, blank=True)
    event_name = models.CharField(max_length=256)
    expression = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_event = models.ForeignKey(
        Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["environment", "event_name", "id"],
                name="wait_open",
                condition=Q(resolved_at__isnull=True),
            )
        ]

    def __str__(self):
        return f"{self.kind} wait for {self.event_name}"


class SpanStatus(models.TextChoices):
    UNSET = "", "Unset"
    OK = "ok", "OK"
    ERROR = "error", "Error"


class Span(models.Model):
    """A span the app traced and exported (controlplane/runs/spans.py), under its step when it
    ran inside one (`step_id`, the hashed id)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="spans")
    step_id = models.CharField(max_length=64, blank=True)
    span_id = models.CharField(max_length=32)
    parent_span_id = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    status = models.CharField(max_length=5, choices=SpanStatus.choices, blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "span_id"], name="span_once_per_run")]
        indexes = [models.Index(fields=["run", "step_id", "started_at"], name="span_run_step")]

    def __str__(self):
        return f"span {self.span_id} {self.name}"

    @property
    def duration_ms(self) -> float:
        return max((self.ended_at - self.started_at).total_seconds() * 1000, 0)
