"""ASGI lifespan: start the configured executor backend with the server, stop it on shutdown."""

import logging

from asgiref.sync import sync_to_async

log = logging.getLogger(__name__)


def with_lifespan(app):
    async def application(scope, receive, send):
        if scope["type"] != "lifespan":
            return await app(scope, receive, send)
        from controlplane.engine.backends import backend

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await sync_to_async(backend().start, thread_sensitive=False)()
                except Exception as exc:
                    log.exception("executor failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await sync_to_async(backend().stop, thread_sensitive=False)()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return application
