"""A raw HTTP app on loopback that speaks the protocol by hand (as tests/engine/test_raw_app.py's
does), so it can answer what no SDK would: garbage, nothing in time, an unknown opcode, a body it
did not sign. It registers itself on /fn/register like an SDK's out-of-band sync."""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx

from controlplane.keys.signatures import bearer_hash, sign_response
from tests.registrations import function, python_body

# (status, body, signature header or None) for one call's request body
Answer = Callable[[dict], tuple[int, bytes, str | None]]
APP_ID = "raw"


def signed(key: str, status: int, raw: bytes) -> tuple[int, bytes, str]:
    return status, raw, sign_response(raw, key)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging answer must not hold up the shutdown

    def handle_error(self, request, client_address):
        """A late answer to a caller that timed out meets a closed socket: expected here."""


class RawApp:
    """Serves `answers` (function id -> Answer), one function each, and counts the calls."""

    def __init__(self, answers: dict[str, Answer], *, retries: int = 1):
        self.answers, self.retries = answers, retries
        self.calls: dict[str, int] = dict.fromkeys(answers, 0)
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/inngest"

    def _handler(self):
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                slug = parse_qs(urlsplit(self.path).query)["fnId"][0]
                fn_id = slug.removeprefix(f"{APP_ID}-")
                with app._lock:
                    app.calls[fn_id] += 1
                status, raw, signature = app.answers[fn_id](body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.send_header("X-Inngest-Sdk", "raw:v0")
                self.send_header("X-Inngest-Req-Version", "1")
                if signature:
                    self.send_header("X-Inngest-Signature", signature)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        return Handler

    def start(self, server_url: str, signing_key: str) -> "RawApp":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        functions = []
        for fn_id in self.answers:
            config = function(APP_ID, fn_id, retries=self.retries)
            config["steps"]["step"]["runtime"]["url"] = f"{self.url}?fnId=raw-{fn_id}&stepId=step"
            functions.append(config)
        response = httpx.post(
            f"{server_url}/fn/register",
            json={**python_body(APP_ID, functions), "url": self.url},
            headers={"Authorization": f"Bearer {bearer_hash(signing_key)}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def hang(seconds: float) -> Answer:
    def answer(_body):
        time.sleep(seconds)
        return 200, b'"too late"', None

    return answer
