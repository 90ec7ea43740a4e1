"""Executor backends decide where jobs run, not what they mean (ARCHITECTURE.md)."""

import logging
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from controlplane.transactions import pending_on_commit

BACKENDS = {
    "local": "controlplane.engine.backends.local.LocalBackend",
    "celery": "controlplane.engine.backends.celery.CeleryBackend",
}

log = logging.getLogger(__name__)


@cache
def backend():
    """The configured backend (one per process)."""
    return import_string(BACKENDS[settings.EXECUTOR_BACKEND])()


def backend_notify(*, jobs: list | tuple = (), queues: list | tuple = ()) -> None:
    """Tell the backend, once the current transaction commits, of the jobs it created (id, due
    time) and of the concurrency queues whose slots it freed: one notice per transaction.

    Every request and worker tells the backend through here. What committed is stored whatever
    the backend answers, so a failure to tell it (a broker that refuses) is logged, never
    raised: the request still answers what it committed (a retry would duplicate it), and the
    sweeper sends due jobs whose message never left (JOB_REPUBLISH_SECONDS).
    """
    pending = pending_on_commit(lambda c: isinstance(c, _Notice))
    notice = pending or _Notice()
    notice.add(jobs, queues)
    if pending is None:  # registered once filled: outside a transaction it runs at once
        transaction.on_commit(notice)


class _Notice:
    def __init__(self):
        self.jobs, self.queues = [], []

    def add(self, jobs, queues) -> None:
        self.jobs.extend(jobs)
        self.queues.extend(q for q in queues if q not in self.queues)

    def __call__(self) -> None:
        try:
            if self.jobs:
                backend().jobs_created(self.jobs)
            if self.queues:
                backend().slots_freed(self.queues)
        except Exception:
            # The first failure ends the notice: a broker that refused one message refuses the
            # next, and each refusal takes its retries' time.
            log.error(
                "%d committed job(s) not published; the sweeper sends them within "
                "JOB_REPUBLISH_SECONDS",
                len(self.jobs),
                exc_info=True,
            )
