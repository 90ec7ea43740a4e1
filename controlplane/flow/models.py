"""State that flow control keeps between events: rate counters, skips, open debounces, batches."""

from django.db import models

from controlplane.events.models import Event
from controlplane.registry.models import Function
from controlplane.tenancy.models import Environment


class GcraState(models.Model):
    """The theoretical arrival time of one throttle / rate-limit / idempotency key (GCRA)."""

    key = models.CharField(max_length=300, unique=True)
    tat = models.DateTimeField()

    def __str__(self):
        return self.key


class SkipReason(models.TextChoices):
    RATE_LIMITED = "rate_limited", "Rate limited"
    IDEMPOTENT = "idempotent", "Idempotency key already used"
    SINGLETON = "singleton", "A run with this singleton key is active"
    PAUSED = "paused", "Function paused"


class Skip(models.Model):
    """An event that would have started a run of a function, and why it did not."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="skips")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="skips")
    reason = models.CharField(max_length=16, choices=SkipReason.choices)
    replayed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["function", "reason", "-created_at"], name="skip_function_recent")
        ]

    def __str__(self):
        return f"{self.function} skipped {self.event_id}: {self.reason}"


class PendingKind(models.TextChoices):
    DEBOUNCE = "debounce", "Debounce"
    BATCH = "batch", "Batch"


class Pending(models.Model):
    """A run that has not started yet and still takes events: the last event of a debounce, or
    the growing event list of a batch. Gone once the run starts."""

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=PendingKind.choices)
    key = models.CharField(max_length=300)
    run = models.OneToOneField("runs.Run", on_delete=models.CASCADE, related_name="pending")
    opened_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["function", "kind", "key"], name="one_open_pending_per_key"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.key} -> run {self.run_id}"
