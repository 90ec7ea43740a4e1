"""Structured logs: with LOG_FORMAT=json every line is one JSON object, and lines logged while
the engine works on a job carry that job's run and step ids."""

import json
import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_fields: ContextVar[dict | None] = ContextVar("log_fields", default=None)


@contextmanager
def log_context(**fields):
    """Fields for every line logged inside the block (in this thread or task)."""
    token = _fields.set({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def log_bind(**fields) -> None:
    """Add fields to the current log_context once they are known (e.g. the run's public id)."""
    current = _fields.get()
    if current is not None:
        current.update(fields)


class ContextFilter(logging.Filter):
    """Puts the log_context fields on every record, for any formatter to use."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = dict(_fields.get() or {})
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
