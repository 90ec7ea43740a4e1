"""On-commit callbacks that gather what one transaction did, so it is sent once at commit."""

from collections.abc import Callable

from django.db import transaction


def pending_on_commit(match: Callable[[object], bool]):
    """The callback registered earlier in the current transaction that `match`es, or None
    (also outside a transaction, where `on_commit` runs a callback at once).

    Django keeps (savepoint ids, callback, robust) per registration until commit and drops
    those of a rolled-back savepoint, so a callback still listed will run if what the caller
    is about to add commits: the caller can add to it instead of registering another.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    for _savepoints, callback, _robust in connection.run_on_commit:
        if match(callback):
            return callback
    return None
