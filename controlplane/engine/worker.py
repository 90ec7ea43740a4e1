"""Running claimed jobs, the same way in every backend."""

import logging
import os
import socket
import uuid

from django.db import close_old_connections

from controlplane.engine.execute import execute_job
from controlplane.engine.jobs import LeaseKeeper
from controlplane.observability.logging import log_context
from controlplane.runs.models import Job

log = logging.getLogger(__name__)


def worker_name(prefix: str) -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_claimed(job: Job, *, owner: str) -> None:
    """Execute a job this worker holds the lease on; errors are logged, the lease then expires
    and the job is retried by whoever claims it next."""
    try:
        with log_context(job_id=job.pk, step_id=job.step_id), LeaseKeeper(job.pk, owner):
            execute_job(job, owner=owner)
    except Exception:
        log.exception("job %s (%s %s of run %s) failed", job.pk, job.kind, job.step_id, job.run_id)
    finally:
        close_old_connections()
