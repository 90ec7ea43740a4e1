"""The Event API's body cap against the real ASGI server, over raw sockets.

The cap must hold before the body is buffered: a declared oversize is refused without reading
a byte of body, a chunked one as soon as it passes the cap, while the sender is still sending.
"""

import json
import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from controlplane.api import body_limit
from controlplane.events.models import Event
from controlplane.keys.services import event_key_create

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 64 * 1024
CHUNK = 16 * 1024


@pytest.fixture
def secret(world, settings):
    settings.EVENT_API_MAX_BODY_BYTES = CAP  # read per request by the running server
    _key, secret = event_key_create(environment=world.prod_a, actor=world.owner, name="ci")
    return secret


def connect(live_server_url) -> socket.socket:
    url = urlsplit(live_server_url)
    return socket.create_connection((url.hostname, url.port), timeout=10)


def head(secret, *headers) -> bytes:
    lines = [f"POST /e/{secret} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


def read_response(sock) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(body)


def test_a_declared_oversize_body_is_refused_before_any_of_it_is_sent(live_server_url, secret):
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, f"Content-Length: {100 * CAP}"))
        status, body = read_response(sock)  # no body byte was sent
    assert status == 413 and body["status"] == 413 and body["ids"] == []
    assert "EVENT_API_MAX_BODY_BYTES" in body["error"]


def test_a_chunked_oversize_body_is_refused_while_it_is_still_streaming(live_server_url, secret):
    """Send up to 32 MiB in chunks; the 413 must arrive long before, and the connection close."""
    total, sent, answer = 32 * 1024 * 1024, 0, None
    chunk = b'{"name":"app/x","data":{"pad":"' + b"x" * CHUNK
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, "Transfer-Encoding: chunked"))
        try:
            while sent < total:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    answer = read_response(sock)
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: it stopped reading
        if answer is None:
            answer = read_response(sock)
    assert answer[0] == 413 and answer[1]["status"] == 413
    assert sent < 64 * CAP, f"{sent} bytes went out before the refusal"
    assert not Event.objects.exists()


def test_an_understated_content_length_cannot_smuggle_more_body(live_server_url, secret):
    """The server frames the body by Content-Length: the app sees the declared bytes only, and
    what follows is a malformed next request, not more body."""
    declared = b'{"name":"app/x"}'
    smuggled = b',"data":{"pad":"' + b"x" * (4 * CAP) + b'"}}'
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, f"Content-Length: {len(declared)}") + declared)
        status, answer = read_response(sock)
        try:
            sock.sendall(smuggled)
            rest = sock.recv(1024)
        except (BrokenPipeError, ConnectionResetError):
            rest = b""
    assert status == 200 and Event.objects.get(public_id=answer["ids"][0]).data == {}
    assert rest == b"" or rest.startswith(b"HTTP/1.1 400")


def test_bodies_under_the_cap_pass_through_plain_or_chunked(live_server_url, secret):
    url = f"{live_server_url}/e/{secret}"
    payload = json.dumps([{"name": "app/x", "data": {"pad": "x" * (CAP // 2)}}]).encode()
    plain = httpx.post(url, content=payload)
    chunked = httpx.post(url, content=iter([payload[:100], payload[100:]]))
    assert plain.status_code == chunked.status_code == 200
    assert Event.objects.count() == 2


def oversized(size: int) -> bytes:
    return b'[{"name":"app/x","data":{"pad":"' + b"x" * size + b'"}}]'


def send_all_then_read(live_server_url, secret, body: bytes) -> tuple[int, dict]:
    """What urllib and most HTTP clients do: write the whole request, only then read."""
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, f"Content-Length: {len(body)}") + body)
        return read_response(sock)


def test_a_client_that_sends_the_whole_body_before_reading_gets_the_413(live_server_url, secret):
    """The server answers at once, then reads the rest of the body before it closes: closing
    on unread bytes sends a reset, and the client's kernel drops the 413 it has not read."""
    body = oversized(6 * 1024 * 1024)
    with ThreadPoolExecutor(max_workers=8) as pool:
        sends = [pool.submit(send_all_then_read, live_server_url, secret, body) for _ in range(24)]
        answers = [future.result() for future in sends]
    for status, answer in answers:
        assert status == 413 and answer["status"] == 413 and answer["ids"] == []
        assert "EVENT_API_MAX_BODY_BYTES" in answer["error"]
    assert not Event.objects.exists()


def test_a_chunked_body_sent_whole_before_reading_gets_the_413(live_server_url, secret):
    chunk = b"x" * (256 * 1024)
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, "Transfer-Encoding: chunked"))
        for _ in range(16):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        status, answer = read_response(sock)
    assert status == 413 and answer["status"] == 413


def send_until_cut_off(live_server_url, secret, *, pause: float = 0) -> tuple[int, float]:
    """Declare a huge body and send it forever (every `pause` seconds a chunk); the bytes that
    went out and the seconds it took until the server hung up."""
    chunk, sent, started = b"x" * CHUNK, 0, time.monotonic()
    with connect(live_server_url) as sock:
        sock.sendall(head(secret, f"Content-Length: {1 << 40}"))
        try:
            while time.monotonic() - started < 60:
                sock.sendall(chunk)
                sent += len(chunk)
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            return sent, time.monotonic() - started
    raise AssertionError(f"still sending after 60 s ({sent} bytes)")


def test_a_client_that_never_stops_sending_is_cut_off_after_the_byte_bound(live_server_url, secret):
    sent, _seconds = send_until_cut_off(live_server_url, secret)
    # What the server read, plus what the two sockets' buffers held when it hung up.
    assert body_limit.DRAIN_MAX_BYTES <= sent < body_limit.DRAIN_MAX_BYTES + 32 * 1024 * 1024


def test_a_client_that_trickles_forever_is_cut_off_after_the_time_bound(
    live_server_url, secret, monkeypatch
):
    monkeypatch.setattr(body_limit, "DRAIN_SECONDS", 1.0)
    sent, seconds = send_until_cut_off(live_server_url, secret, pause=0.05)
    assert 1.0 <= seconds < 5 and sent < body_limit.DRAIN_MAX_BYTES
