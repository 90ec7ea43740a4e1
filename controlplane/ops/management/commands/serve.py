import os

import uvicorn
from django.core.management.base import BaseCommand
from django.db import connections

from controlplane.tenancy.services import environment_ensure_dev_mode


class Command(BaseCommand):
    help = (
        "Serve HTTP and websockets (uvicorn) on HOST:PORT; the embedded executor runs in-process."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8288")))

    def handle(self, *args, host, port, **options):
        if environment := environment_ensure_dev_mode():
            self.stdout.write(f"Dev-mode environment: {environment} (INNGEST_DEV=1 apps sync here)")
        connections.close_all()  # this thread runs the event loop now: it keeps no connection
        self.stdout.write(f"Serving on http://{host}:{port}/")
        uvicorn.run(
            "controlplane.asgi:application",
            host=host,
            port=port,
            lifespan="on",
            proxy_headers=True,
            log_level="info",
        )
