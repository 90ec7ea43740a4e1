"""The Celery backend: jobs are published to the broker after commit and run by `celery -A
controlplane worker` processes on any number of machines.

The database stays the source of truth: a message only says "work is due"; the worker that
gets it claims the best due job with a lease (priority, fairness and concurrency limits are
decided there). A sweeper thread in every worker publishes jobs that became due (timers) and
re-publishes those whose message or worker got lost, so a lost message delays a run but never
loses it. Cron triggers need celery beat (`worker -B` or a `beat` process).
"""

from datetime import timedelta

from django.utils import timezone


class CeleryBackend:
    # Jobs due later than this are left to the sweeper instead of a broker ETA: long ETAs
    # interact badly with broker visibility timeouts.
    PUBLISH_AHEAD = timedelta(seconds=1)

    def start(self) -> None:
        """Nothing runs in the web process; workers and beat are separate processes."""

    def stop(self) -> None:
        pass

    def publishes_at_commit(self, available_at) -> bool:
        """Whether a job due then is sent as soon as its transaction commits: it is stored as
        published, so a sweep between the commit and the message does not send it twice."""
        return available_at <= timezone.now() + self.PUBLISH_AHEAD

    def jobs_created(self, jobs: list) -> None:
        from controlplane.engine.tasks import publish

        publish([(job_id, at) for job_id, at in jobs if self.publishes_at_commit(at)], marked=True)

    def slots_freed(self, queues: list[str]) -> None:
        """Wake workers for calls that waited on these concurrency queues."""
        from controlplane.engine.jobs import jobs_waiting_for
        from controlplane.engine.tasks import publish

        publish(jobs_waiting_for(queues, limit=10))
