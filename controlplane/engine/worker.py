"""Running claimed jobs, the same way in every backend."""

import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.db import close_old_connections

from controlplane.engine.execute import execute_job
from controlplane.engine.leases import leases
from controlplane.observability.logging import log_context
from controlplane.runs.models import Job

log = logging.getLogger(__name__)


def worker_name(prefix: str) -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_claimed(job: Job, *, owner: str) -> None:
    """Execute a job this worker holds the lease on, then the run's next calls as long as
    they are due at once, for up to ENGINE_KEEP_SECONDS: a run of quick steps goes from step to
    step without a claim or a re-read of the run, and other runs waiting for a worker still get
    one. Errors are logged, the lease then expires and the job is retried by whoever claims it
    next."""
    keep_until = time.monotonic() + settings.ENGINE_KEEP_SECONDS
    kept_run = None
    while job is not None:
        try:
            with log_context(job_id=job.pk, step_id=job.step_id), leases.held(job.pk, owner):
                keep = time.monotonic() < keep_until
                kept = execute_job(job, owner=owner, kept_run=kept_run, keep=keep)
        except Exception:
            log.exception(
                "job %s (%s %s of run %s) failed", job.pk, job.kind, job.step_id, job.run_id
            )
            kept = None
        job, kept_run = (kept.job, kept.run) if kept else (None, None)
    close_old_connections()
