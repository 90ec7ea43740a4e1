"""Executor backends decide where jobs run, not what they mean (ARCHITECTURE.md)."""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "local": "controlplane.engine.backends.local.LocalBackend",
    "celery": "controlplane.engine.backends.celery.CeleryBackend",
}


@cache
def backend():
    """The configured backend (one per process)."""
    return import_string(BACKENDS[settings.EXECUTOR_BACKEND])()
