"""The ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django_asgi_app = get_asgi_application()
if settings.DATABASES["default"]["CONN_MAX_AGE"]:
    # Each request runs in a thread of its own: every one would leave its connection open.
    raise ImproperlyConfigured(
        "DB_CONN_MAX_AGE is for Celery workers: a server would keep one idle database "
        "connection per request thread. Unset it for servers (they pool: DB_POOL_SIZE)."
    )

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from controlplane.api.body_limit import EventBodyLimit  # noqa: E402
from controlplane.lifespan import with_lifespan  # noqa: E402
from controlplane.observability.websockets import count_websockets  # noqa: E402
from dashboard.origins import same_origin_only  # noqa: E402
from dashboard.routing import websocket_urlpatterns  # noqa: E402

application = with_lifespan(
    ProtocolTypeRouter(
        {
            "http": EventBodyLimit(django_asgi_app),
            "websocket": count_websockets(
                same_origin_only(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)
