"""Websockets open only from this site's own pages.

A browser sends cookies with a websocket handshake from any site, so the Origin it sends must
be the socket's own scheme, host and port, as Django's CSRF check requires of a POST, or one
of CSRF_TRUSTED_ORIGINS (exact, or `https://*.example.com` for subdomains). The host must be
one of ALLOWED_HOSTS, and behind a proxy the scheme is what SECURE_PROXY_SSL_HEADER says.
Channels' AllowedHostsOriginValidator compared host names only: another port or plain http
on the same host passed.
"""

import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)


def same_origin_only(app):
    """Wrap an ASGI websocket app: a handshake from another origin is refused and logged."""

    async def checked(scope, receive, send):
        handshake = _Handshake(scope)
        origin = handshake.headers.get("Origin")
        if origin_allowed(handshake, origin):
            return await app(scope, receive, send)
        logger.warning(
            "websocket refused: origin %r is not this site's (%s)", origin, scope["path"]
        )
        return await WebsocketDenier()(scope, receive, send)

    return checked


def origin_allowed(handshake: HttpRequest, origin: str | None) -> bool:
    if not origin:
        return False  # browsers always send one; anything else has no page to protect
    try:
        own = f"{handshake.scheme}://{handshake.get_host()}"
    except DisallowedHost:
        return False
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin == own or origin in (t for t in trusted if "*" not in t):
        return True
    parsed = urlsplit(origin)
    return any(
        is_same_domain(parsed.netloc, pattern.netloc.lstrip("*"))
        for pattern in (urlsplit(t) for t in trusted if "*" in t)
        if pattern.scheme == parsed.scheme
    )


class _Handshake(HttpRequest):
    """The handshake as a Django request, for its host (checked against ALLOWED_HOSTS) and
    scheme (https for wss, or the proxy's header when SECURE_PROXY_SSL_HEADER names one)."""

    def __init__(self, scope):
        super().__init__()
        for name, value in scope.get("headers", []):
            key = "HTTP_" + name.decode("latin1").upper().replace("-", "_")
            self.META[key] = value.decode("latin1")
        server_name, server_port = scope.get("server") or ("", "")
        self.META["SERVER_NAME"], self.META["SERVER_PORT"] = server_name, str(server_port)
        self._secure = scope.get("scheme") == "wss"

    def _get_scheme(self) -> str:
        return "https" if self._secure else "http"
