"""The Celery backend's messages, counted in a real Redis queue no worker reads: one per job
due now, sent at commit, and none again from a sweep that runs before the message is sent."""

import os
from datetime import timedelta

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from controlplane.celery import app as celery_app
from controlplane.engine.backends import backend
from controlplane.engine.tasks import sweep
from controlplane.runs.models import Job
from tests.bulk.conftest import fn, make_runs  # noqa: F401 (fn: the fixture)
from tests.engine.harness import celery_broker_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queued(settings):
    """The number of messages in this test's queue."""
    broker = celery_broker_url()
    if broker is None:
        pytest.skip("needs Redis (set REDIS_URL)")
    celery_app.conf.broker_url = broker
    settings.EXECUTOR_BACKEND = "celery"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue = f"publish-tests-{os.getpid()}"
    backend.cache_clear()
    client = redis.Redis.from_url(broker)
    client.delete(queue)
    yield lambda: client.llen(queue)
    client.delete(queue)
    backend.cache_clear()


def test_it_sends_a_job_once_at_commit_even_if_a_sweep_runs_before(fn, queued):  # noqa: F811
    with transaction.atomic():
        make_runs(fn, 5)
        # A sweep in the window between the jobs' commit and their messages sees them stored
        # as published (here it sees them before the commit, through the same connection).
        assert sweep() == 0
        assert queued() == 0
    assert queued() == 5
    assert sweep() == 0 and queued() == 5


def test_it_leaves_a_job_due_later_to_the_sweep_that_finds_it_due(fn, queued):  # noqa: F811
    [run] = make_runs(fn, 1, start_at=timezone.now() + timedelta(hours=1))
    assert queued() == 0 and Job.objects.get(run=run).published_at is None
    Job.objects.filter(run=run).update(available_at=timezone.now() - timedelta(seconds=1))
    assert sweep() == 1 and queued() == 1
    assert Job.objects.get(run=run).published_at is not None
    assert sweep() == 0 and queued() == 1
