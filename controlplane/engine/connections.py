"""Handing a pooled database connection back while a thread has no use for it."""

from django.db import connection


def release_pooled_connection() -> None:
    """Give this thread's pooled connection back (outside a transaction): a thread that keeps
    one while it waits (for an app's answer, for the next poll) keeps it from every other
    thread of the process, and with more threads than pooled connections that capped the work
    in flight. Unpooled connections stay: reconnecting costs more than it saves."""
    pooled = connection.vendor == "postgresql" and connection.pool is not None
    if pooled and not connection.in_atomic_block:
        connection.close()
