"""Prometheus metrics.

Counters and histograms are recorded where the work happens, in the process doing it. Across
processes: with PROMETHEUS_MULTIPROC_DIR set (prometheus-client's multiprocess mode), every
process on the host writes there and /metrics sums them, Celery workers on the same machine
included; workers on other machines serve their own with METRICS_WORKER_PORT. Queue depth and
the oldest job's age are read from the database at scrape time, so they are true whichever
process asks.
"""

import os
from functools import lru_cache

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from controlplane.runs.models import Job
from controlplane.tenancy.models import Environment

FUNCTION_LABELS = ["environment", "function"]
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

EVENTS_RECEIVED = Counter(
    "cp_events_received_total", "Events stored from outside (API, dashboard, cron)", ["source"]
)
RUNS_STARTED = Counter("cp_runs_started_total", "Runs whose first SDK call ran", FUNCTION_LABELS)
RUNS_FINISHED = Counter(
    "cp_runs_finished_total", "Runs that ended, by status", [*FUNCTION_LABELS, "status"]
)
SDK_CALLS = Histogram(
    "cp_sdk_call_duration_seconds",
    "Duration of calls to apps, by outcome (done, ops, error)",
    [*FUNCTION_LABELS, "outcome"],
    buckets=SECONDS_BUCKETS,
)
STEPS = Histogram(
    "cp_step_duration_seconds",
    "Duration of the SDK calls that ran a step's code (completed, errored or failed)",
    FUNCTION_LABELS,
    buckets=SECONDS_BUCKETS,
)
RETRIES = Counter("cp_retries_total", "SDK calls that were a retry (attempt > 0)", FUNCTION_LABELS)
WEBSOCKET_CLIENTS = Gauge(
    "cp_websocket_clients", "Open dashboard websocket connections", multiprocess_mode="livesum"
)


@lru_cache(maxsize=4096)
def environment_label(environment_id: int) -> str:
    """ "org/env" for an environment id: looked up once per process (slugs do not change)."""
    environment = Environment.objects.select_related("organization").get(pk=environment_id)
    return str(environment)


def function_labels(run) -> dict:
    return {"environment": environment_label(run.environment_id), "function": run.function.slug}


class QueueCollector:
    """Jobs waiting, running and scheduled, and how long the oldest due job has waited: one
    aggregate query per scrape."""

    def collect(self):
        now = timezone.now()
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        row = Job.objects.aggregate(
            due=Count("id", filter=free & Q(available_at__lte=now)),
            leased=Count("id", filter=Q(lease_until__gte=now)),
            scheduled=Count("id", filter=free & Q(available_at__gt=now)),
            oldest=Min("available_at", filter=free & Q(available_at__lte=now)),
        )
        depth = GaugeMetricFamily(
            "cp_queue_jobs", "Jobs in the queue: due, leased (running), scheduled", labels=["state"]
        )
        for state in ("due", "leased", "scheduled"):
            depth.add_metric([state], row[state])
        yield depth
        age = (now - row["oldest"]).total_seconds() if row["oldest"] else 0.0
        yield GaugeMetricFamily(
            "cp_queue_oldest_due_job_age_seconds", "How long the oldest due job has waited", age
        )


_QUEUE = CollectorRegistry(auto_describe=False)
_QUEUE.register(QueueCollector())


def exposition() -> tuple[bytes, str]:
    """The text a Prometheus scrape of this server gets."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return generate_latest(processes) + generate_latest(_QUEUE), CONTENT_TYPE_LATEST
