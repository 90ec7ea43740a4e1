"""Secrets never reach a log line in full: event keys in `/e/<key>` paths (the server's access
log, Django's request warnings), bearer tokens, signing keys and API keys are cut to the prefix
the dashboard shows.

It works on every record as it is made (the record factory), so it holds whatever handlers
and formatters print them: uvicorn's access log, Celery's, ours in text or JSON.
"""

import logging
import re

_SEGMENT = r"[^/?#\s\"',;]"
_SECRETS = re.compile(
    # Event keys, 8 characters kept like their prefix: a path that starts with /e/ (a path
    # alone, or in a URL), not a directory named e.
    rf"(?P<keep>(?<![\w.~%-])(?:https?://[^/\s\"']+)?/e/{_SEGMENT}{{8}}"
    r"|Bearer\s+[^\s\"',;]{8}"
    r"|signkey-[a-z]+-[0-9a-fA-F]{6}"  # signing keys and their bearer form
    r"|cpk_[A-Za-z0-9_-]{8})"  # API keys
    rf"{_SEGMENT}+"
)
REDACTED = "..."


def redact(text: str) -> str:
    return _SECRETS.sub(lambda match: match["keep"] + REDACTED, text)


def install() -> None:
    """Redact every log record this process makes from now on (once per process)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):  # kept a tuple: uvicorn's access log unpacks it
            record.args = tuple(_redacted_arg(arg) for arg in record.args)
        return record

    redacting.redacts = True
    logging.setLogRecordFactory(redacting)


def _redacted_arg(arg):
    """The argument's text redacted if it holds a secret (a string, or an object such as the
    `URL` httpx logs), else the argument itself; numbers stay numbers, for `%d`."""
    if arg is None or isinstance(arg, int | float):
        return arg
    text = str(arg)
    redacted = redact(text)
    return redacted if redacted != text else arg
