"""The step-call transport against real HTTP servers on loopback: keep-alive, a connection the
app closed, timeouts, refused connections, proxies, no cookies carried between calls, and TLS
verification."""

import datetime
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controlplane.engine import transport
from tests.live import free_port


class _App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list  # (connection's client port, request line, headers) per request
    close_after = False  # answer with Connection: close
    delay = 0.0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.client_address[1], self.requestline, dict(self.headers)))
        threading.Event().wait(self.delay)
        answer = b'{"echo": ' + body + b"}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.send_header("Set-Cookie", "session=from-the-app")
        self.send_header("X-Inngest-Sdk", "test")
        if self.close_after:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    handler = type("Handler", (_App,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fresh_connections(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    transport._local.__dict__.clear()
    transport._proxies.cache_clear()
    yield
    transport._proxies.cache_clear()


def _url(server, path="/api/inngest?fnId=f&stepId=step"):
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_it_posts_and_keeps_the_connection_for_the_next_call(app):
    first = transport.send(_url(app), b"1", {"X-Run-ID": "r1"}, timeout=5)
    second = transport.send(_url(app), b"2", {}, timeout=5)
    assert first == (200, first[1], b'{"echo": 1}') and second[2] == b'{"echo": 2}'
    assert first[1]["x-inngest-sdk"] == "test"  # header names lower-cased
    (port1, line, headers), (port2, _, _) = app.RequestHandlerClass.seen
    assert line == "POST /api/inngest?fnId=f&stepId=step HTTP/1.1"
    assert headers["X-Run-ID"] == "r1"
    assert port1 == port2  # one connection


def test_it_never_sends_back_a_cookie_an_app_set(app):
    transport.send(_url(app), b"1", {}, timeout=5)
    transport.send(_url(app), b"2", {}, timeout=5)
    assert all("Cookie" not in headers for _, _, headers in app.RequestHandlerClass.seen)


def test_it_opens_a_new_connection_when_the_app_closed_the_last_one(app):
    app.RequestHandlerClass.close_after = True
    for n in range(3):
        assert transport.send(_url(app), str(n).encode(), {}, timeout=5)[0] == 200
    ports = {port for port, _, _ in app.RequestHandlerClass.seen}
    assert len(ports) == 3


def test_it_retries_once_on_a_new_connection_when_an_idle_one_went_stale(app):
    transport.send(_url(app), b"1", {}, timeout=5)
    [idle] = transport._connections().values()
    idle.sock.shutdown(socket.SHUT_RDWR)  # as if the app's keep-alive timeout closed it
    assert transport.send(_url(app), b"2", {}, timeout=5)[2] == b'{"echo": 2}'


def test_it_reports_a_timeout(app):
    app.RequestHandlerClass.delay = 2.0
    with pytest.raises(transport.CallTimeout):
        transport.send(_url(app), b"1", {}, timeout=0.3)


def test_it_reports_an_app_that_cannot_be_reached():
    with pytest.raises(transport.CallFailed, match="refused"):
        transport.send(f"http://127.0.0.1:{free_port()}/api", b"1", {}, timeout=5)
    with pytest.raises(transport.CallFailed, match="not an http"):
        transport.send("ftp://127.0.0.1/api", b"1", {}, timeout=5)


def test_it_goes_through_the_proxy_the_environment_names(app, monkeypatch):
    """A forward proxy gets the whole URL in the request line (the test app plays the proxy);
    NO_PROXY hosts are called directly."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{app.server_address[1]}")
    target = "http://app.invalid:9999/api/inngest?fnId=f"
    assert transport.send(target, b"1", {}, timeout=5)[0] == 200
    [(_, line, _)] = app.RequestHandlerClass.seen
    assert line == f"POST {target} HTTP/1.1"

    monkeypatch.setenv("NO_PROXY", "app.invalid")
    transport._proxies.cache_clear()
    transport._local.__dict__.clear()
    with pytest.raises(transport.CallFailed):
        transport.send(target, b"1", {}, timeout=5)  # direct: the host does not resolve


def test_it_refuses_an_app_whose_certificate_it_cannot_verify(tmp_path):
    """TLS is verified: a self-signed certificate fails the call (retried like any failure)."""
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_App,), {"seen": []}))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(transport.CallFailed, match="CERTIFICATE_VERIFY_FAILED"):
            transport.send(f"https://127.0.0.1:{server.server_address[1]}/", b"1", {}, timeout=5)
        assert server.RequestHandlerClass.seen == []
    finally:
        server.shutdown()
        server.server_close()


def _self_signed(directory) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
