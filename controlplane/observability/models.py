from django.db import models

from controlplane.registry.models import Function
from controlplane.runs.models import Run
from controlplane.tenancy.models import Environment

# Upper bounds (ms) of the duration buckets the charts' percentiles are read from: one query
# groups by (time, bucket) on any database, like Prometheus's histogram_quantile.
DURATION_BOUNDS_MS = (
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, float("inf")
)  # fmt: skip


class SdkCall(models.Model):
    """One call the engine made to a function's app, for the charts: how long it took and what
    came back. Written in the transaction that stores the call's outcome."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    step_id = models.CharField(max_length=64)
    attempt = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=5)  # "done" | "ops" | "error", as CallOutcome.kind
    ran_step = models.BooleanField()  # the call ran a step's code (not only planned or slept)
    started_at = models.DateTimeField()
    duration_ms = models.FloatField()
    duration_bucket = models.PositiveSmallIntegerField()  # index into DURATION_BOUNDS_MS

    class Meta:
        indexes = [
            models.Index(fields=["function", "started_at"], name="sdkcall_function_time"),
            models.Index(fields=["environment", "started_at"], name="sdkcall_env_time"),
        ]

    def __str__(self):
        return f"{self.outcome} call of run {self.run_id} ({self.duration_ms:.0f} ms)"
