"""The Event API's body cap, enforced while the body arrives rather than after.

Django's ASGIHandler reads a whole body into a temporary file before any view runs, so a view
cannot refuse an oversized one in time. This wrapper reads `POST /e/...` bodies itself, up to
EVENT_API_MAX_BODY_BYTES, and hands Django the body as one message. A larger declared
Content-Length is refused before reading anything; a chunked or understated body is refused as
soon as the bytes received pass the cap.

The 413 goes out at once, but the connection closes only after the rest of the body has been
read and dropped (a lingering close): closing a socket with unread bytes sends a reset, and a
client that writes its whole request before reading (urllib, most HTTP libraries) then gets
"Broken pipe" or loses the 413 its kernel had already received. The drain is bounded, in bytes
and in seconds, so a client that never stops sending is cut off.
"""

import asyncio
import json

from django.conf import settings

# How much more of a refused body is read before hanging up: about ten times the default cap,
# and the time a slow client gets to send it (nginx lingers up to 30 s).
DRAIN_MAX_BYTES = 32 * 1024 * 1024
DRAIN_SECONDS = 10.0


class EventBodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if not _is_event_post(scope):
            return await self.app(scope, receive, send)
        limit = settings.EVENT_API_MAX_BODY_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _too_large(scope, receive, send, limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender gave up; there is no one to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                rest = receive if message.get("more_body", False) else None  # None: all read
                return await _too_large(scope, rest, send, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(b"".join(chunks), receive), send)


def _is_event_post(scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/e/")


def _header(scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


def _content_length(scope) -> int | None:
    try:
        return int(_header(scope, b"content-length"))
    except (TypeError, ValueError):
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


async def _too_large(scope, receive, send, limit: int) -> None:
    """Answer 413, then drain what is left of the body (`receive`; None: nothing is) before the
    response ends, which is when the server closes the connection."""
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
    await send({"type": "http.response.body", "body": body, "more_body": True})
    # A client waiting for "100 Continue" sends no body; reading would make the server send one.
    if receive is not None and _header(scope, b"expect") != b"100-continue":
        await _drain(receive)
    await send({"type": "http.response.body", "body": b""})


async def _drain(receive) -> None:
    """Read and drop the body until it ends, the client leaves, or a bound is reached."""
    drained = 0
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while drained < DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return
                drained += len(message.get("body", b""))
    except TimeoutError:
        pass  # the rest is the client's problem: the close cuts it off
