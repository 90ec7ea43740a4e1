"""The websocket origin check: a handshake opens only from a page of this site (scheme, host
and port) or of CSRF_TRUSTED_ORIGINS; any other is refused and logged."""

import pytest
from asgiref.sync import async_to_sync
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from controlplane.asgi import application
from controlplane.engine.invoke import function_invoke
from dashboard.origins import same_origin_only
from tests.test_runs_live import cookie_of, fn_a, run_path, signed_in_client  # noqa: F401

SITE = "cp.example.com:8443"


class Accepting(AsyncWebsocketConsumer):
    async def connect(self):
        await self.accept()


def opens(origin: str | None, *, host: str = SITE, scheme: str = "ws", **headers) -> bool:
    async def handshake():
        sent = [(b"host", host.encode())]
        if origin is not None:
            sent.append((b"origin", origin.encode()))
        sent += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
        socket = WebsocketCommunicator(same_origin_only(Accepting.as_asgi()), "/ws/", sent)
        socket.scope["scheme"] = scheme
        connected, _ = await socket.connect()
        await socket.disconnect()
        return connected

    return async_to_sync(handshake)()


@pytest.fixture(autouse=True)
def _site(settings):
    settings.ALLOWED_HOSTS = ["cp.example.com", "127.0.0.1", "testserver"]  # test client
    settings.CSRF_TRUSTED_ORIGINS = ["https://dash.example.com", "https://*.corp.example"]


def test_it_accepts_the_sockets_own_origin():
    assert opens("http://cp.example.com:8443")
    assert opens("https://cp.example.com:8443", scheme="wss")
    assert opens("https://cp.example.com", host="cp.example.com", scheme="wss")


@pytest.mark.parametrize(
    "origin",
    [
        "http://cp.example.com:6666",  # another port of the same host
        "http://cp.example.com",  # its default port
        "https://cp.example.com:8443",  # https page, ws socket
        "http://evil.test:8443",
        "http://cp.example.com.evil.test:8443",
        "null",  # a sandboxed frame
        None,
    ],
)
def test_it_refuses_any_other_origin(origin):
    assert not opens(origin)


def test_a_wss_socket_refuses_an_http_page():
    assert not opens("http://cp.example.com:8443", scheme="wss")


def test_it_refuses_a_host_outside_allowed_hosts_even_from_its_own_origin():
    assert not opens("http://evil.test", host="evil.test")


def test_behind_a_proxy_the_scheme_is_the_one_its_header_says(settings):
    proxied = {"host": "cp.example.com", "X_Forwarded_Proto": "https"}
    assert not opens("https://cp.example.com", **proxied)  # the header is not trusted yet
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert opens("https://cp.example.com", **proxied)
    assert not opens("http://cp.example.com", **proxied)


def test_csrf_trusted_origins_are_trusted_exactly_or_by_subdomain():
    assert opens("https://dash.example.com")
    assert opens("https://eu.corp.example")
    assert not opens("http://dash.example.com")
    assert not opens("http://eu.corp.example")
    assert not opens("https://dash.example.com:444")


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_run_page_from_another_port_is_refused_and_logged(world, fn_a, caplog):  # noqa: F811
    run = function_invoke(function=fn_a, data={})
    cookie = cookie_of(signed_in_client(world.viewer))
    path = run_path(run)

    async def scenario():
        connected = []
        for origin in (b"http://127.0.0.1:6666", b"http://127.0.0.1:8288"):
            headers = [(b"host", b"127.0.0.1:8288"), (b"origin", origin), cookie]
            socket = WebsocketCommunicator(application, path, headers)
            connected.append((await socket.connect())[0])
            await socket.disconnect()
        return connected

    assert async_to_sync(scenario)() == [False, True]
    [refusal] = [r for r in caplog.records if r.name == "dashboard.origins"]
    assert "http://127.0.0.1:6666" in refusal.getMessage() and refusal.levelname == "WARNING"
