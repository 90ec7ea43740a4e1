"""The Event API's body cap, enforced while the body arrives rather than after.

Django's ASGIHandler reads a whole body into a temporary file before any view runs, so a view
cannot refuse an oversized one in time. This wrapper reads `POST /e/...` bodies itself, up to
EVENT_API_MAX_BODY_BYTES, and hands Django the body as one message. A larger declared
Content-Length is refused before reading anything; a chunked or understated body is refused as
soon as the bytes received pass the cap. The 413 closes the connection, so the rest of the body
is never read.
"""

import json

from django.conf import settings


class EventBodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not _is_event_post(scope):
            return await self.app(scope, receive, send)
        limit = settings.EVENT_API_MAX_BODY_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _too_large(send, limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender gave up; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _too_large(send, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)


def _is_event_post(scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/e/")


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive):
    """A receive() that yields the buffered body once, then defers to the server (disconnect)."""
    pending = True

    async def replayed():
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _too_large(send, limit: int) -> None:
    body = json.dumps(
        {
            "error": f"The request body is larger than {limit} bytes "
            "(EVENT_API_MAX_BODY_BYTES). Send fewer or smaller events per request.",
            "status": 413,
            "ids": [],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
