"""CEL expressions, as Inngest uses them: trigger `if`s, waitForEvent / cancelOn matches, keys.

Compiled programs are cached by source text; an expression is compiled once per process.
"""

from functools import lru_cache
from typing import Any

import cel


class ExpressionError(ValueError):
    """The expression does not parse, names an unknown variable, or failed on this input."""


@lru_cache(maxsize=4096)
def _compile(source: str) -> cel.Program:
    try:
        return cel.compile(source)
    except ValueError as exc:
        raise ExpressionError(str(exc).split("\n")[0]) from None


def validate(source: str, *, variables: set[str]) -> None:
    """Raise ExpressionError unless `source` parses and only uses the given top-level names."""
    if not source.strip():
        raise ExpressionError("The expression is empty.")
    unknown = set(_compile(source).variables()) - variables
    if unknown:
        names = ", ".join(sorted(unknown))
        allowed = ", ".join(sorted(variables))
        raise ExpressionError(f"Unknown variable {names}: the expression can use {allowed}.")


def evaluate(source: str, context: dict[str, Any]) -> Any:
    """The expression's value, or ExpressionError (syntax, missing field, type mismatch)."""
    try:
        return _compile(source).execute(context)
    except ExpressionError:
        raise
    except Exception as exc:  # the binding raises KeyError, TypeError, RuntimeError, ...
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def matches(source: str, context: dict[str, Any]) -> bool:
    """True only if the expression evaluates to true; errors (e.g. a missing field) are no match."""
    try:
        return evaluate(source, context) is True
    except ExpressionError:
        return False
