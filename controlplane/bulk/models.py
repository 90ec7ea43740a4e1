"""Bulk actions: cancel or replay many runs of one function, as a tracked, resumable job."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from controlplane.fields import public_id_field
from controlplane.registry.models import Function
from controlplane.tenancy.models import Environment


class BulkKind(models.TextChoices):
    CANCEL = "cancel", "Bulk cancel"
    REPLAY = "replay", "Bulk replay"


class BulkStatus(models.TextChoices):
    RUNNING = "running", "Running"
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"


DEFAULT_PACE = 50  # replays started per second


class BulkAction(models.Model):
    """Runs of `function` queued in [started_after, started_before), matching `expression` over
    their trigger event, up to run `last_run_id` (the newest run when the action was created:
    later runs are never touched). Processed in chunks by ascending run id; `cursor` is the last
    run id a committed chunk covered, so a crash loses at most one uncommitted chunk."""

    public_id = public_id_field()
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="bulk_actions"
    )
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="bulk_actions")
    kind = models.CharField(max_length=6, choices=BulkKind.choices)
    name = models.CharField(max_length=200, blank=True)
    started_after = models.DateTimeField()
    started_before = models.DateTimeField()
    expression = models.TextField(blank=True)  # CEL over `event`, the run's trigger event
    statuses = models.JSONField(default=list)  # run statuses it acts on
    pace = models.PositiveIntegerField(default=DEFAULT_PACE)  # runs per second (replay)
    status = models.CharField(max_length=9, choices=BulkStatus.choices, default=BulkStatus.RUNNING)
    note = models.CharField(max_length=300, blank=True)  # why it stopped, if not by a person
    matched = models.PositiveIntegerField(default=0)  # counted at creation
    processed = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    last_run_id = models.BigIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    next_chunk_at = models.DateTimeField()  # the pace: when the next chunk may run
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_by_label = models.CharField(max_length=254)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["environment", "-id"], name="bulk_env_recent"),
            models.Index(fields=["next_chunk_at"], name="bulk_due", condition=Q(status="running")),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.name or self.public_id} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == BulkStatus.COMPLETED or not self.matched:
            return 100 if self.status == BulkStatus.COMPLETED else 0
        return min(100, self.processed * 100 // self.matched)
