"""The HTTP transport of step calls: one keep-alive connection per app host per worker thread.

Step calls are the engine's hot path, and a general-purpose client (httpx) spent more CPU per
call than storing the call's outcome. This sends a request with http.client and keeps no state
between calls but the open connection: no cookies carried from one app's answer into another
call. Proxies are honoured as the environment sets them (HTTP_PROXY, HTTPS_PROXY, NO_PROXY).
"""

import http.client
import ssl
import threading
import urllib.request
from functools import cache
from urllib.parse import SplitResult, urlsplit

import certifi

_local = threading.local()


class CallTimeout(Exception):
    pass


class CallFailed(Exception):
    """The app could not be reached, or the connection broke before an answer came."""


def send(
    url: str, body: bytes, headers: dict, *, timeout: float, method: str = "POST"
) -> tuple[int, dict, bytes]:
    """Send the request (a POST, but for a durable endpoint's own route); the answer's status,
    headers (lower-case names) and body."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc, timeout)
    idle = _connections().pop(key, None)
    if idle is not None:
        try:
            return _send(idle, key, method, url, parts, body, headers)
        except CallFailed:
            pass  # the app closed the idle connection: once more on a new one
    return _send(_connect(parts, timeout), key, method, url, parts, body, headers)


def _send(connection, key, method: str, url: str, parts: SplitResult, body: bytes, headers: dict):
    target = url if getattr(connection, "forward_proxy", False) else parts.path or "/"
    if parts.query and target is not url:
        target += f"?{parts.query}"
    try:
        connection.request(method, target, body=body or None, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except TimeoutError as exc:
        connection.close()
        raise CallTimeout() from exc
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise CallFailed(str(exc) or type(exc).__name__) from exc
    if response.will_close:
        connection.close()
    else:
        _connections()[key] = connection
    return response.status, {k.lower(): v for k, v in response.getheaders()}, raw


def _connections() -> dict:
    if not hasattr(_local, "connections"):
        _local.connections = {}
    return _local.connections


def _connect(parts: SplitResult, timeout: float) -> http.client.HTTPConnection:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallFailed(f"not an http(s) URL: {parts.geturl()}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy = _proxy(parts)
    if proxy is None:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                parts.hostname, port, timeout=timeout, context=_tls()
            )
        return http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    if parts.scheme == "https":  # a CONNECT tunnel through the proxy, TLS to the app
        connection = http.client.HTTPSConnection(
            proxy.hostname, proxy.port or 80, timeout=timeout, context=_tls()
        )
        connection.set_tunnel(parts.hostname, port)
        return connection
    connection = http.client.HTTPConnection(proxy.hostname, proxy.port or 80, timeout=timeout)
    connection.forward_proxy = True  # plain http through a proxy: the request names the URL
    return connection


def _proxy(parts: SplitResult) -> SplitResult | None:
    proxies = _proxies()
    url = proxies.get(parts.scheme)
    if not url or urllib.request.proxy_bypass_environment(parts.hostname, proxies):
        return None
    return urlsplit(url if "://" in url else f"http://{url}")


@cache
def _proxies() -> dict:
    return urllib.request.getproxies_environment()


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())
