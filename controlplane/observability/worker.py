"""Celery workers' own /metrics, for workers on machines without the shared multiprocess
directory: METRICS_WORKER_LISTEN="0.0.0.0:9101" serves this worker's registry there."""

import logging

from celery.signals import worker_ready
from django.conf import settings
from prometheus_client import start_http_server

log = logging.getLogger(__name__)


@worker_ready.connect
def serve_metrics(**_):
    if settings.METRICS_WORKER_LISTEN:
        host, _, port = settings.METRICS_WORKER_LISTEN.rpartition(":")
        try:
            start_http_server(int(port), addr=host or "0.0.0.0")
        except OSError:  # the port is taken: the worker still works, unobserved
            log.exception("cannot serve metrics at %s", settings.METRICS_WORKER_LISTEN)
