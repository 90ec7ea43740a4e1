"""Counting open websocket connections, for every consumer, at the ASGI edge."""

from controlplane.observability.metrics import WEBSOCKET_CLIENTS


def count_websockets(app):
    """Wrap an ASGI websocket app: +1 when a connection is accepted, -1 when it ends."""

    async def counted(scope, receive, send):
        accepted = False

        async def sending(message):
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                WEBSOCKET_CLIENTS.inc()
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            if accepted:
                WEBSOCKET_CLIENTS.dec()

    return counted
