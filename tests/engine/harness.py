"""Test set-up for the engine: fixed keys (so SDK app processes outlive one test's database),
backends, and waiting for runs to reach a state."""

import contextlib
import hashlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.signals import request_started
from django.db import connection

from controlplane.keys import crypto
from controlplane.keys.models import EventKey, SigningKey
from controlplane.keys.signatures import bearer_hash
from controlplane.runs.models import Run
from controlplane.tokens import token_hash

SIGNING_KEY = "signkey-prod-" + "5e" * 32
EVENT_KEY = "e" * 64
ROOT = Path(__file__).resolve().parents[2]


def use_signing_key(environment, key: str = SIGNING_KEY) -> None:
    """Make `key` the environment's active signing key, as if it had been rotated in."""
    SigningKey.objects.filter(environment=environment, state="active").update(
        encrypted_key=crypto.encrypt(key),
        display_prefix=key[:19],
        bearer_lookup=hashlib.sha256(bearer_hash(key).encode()).hexdigest(),
    )


def use_event_key(environment, secret: str = EVENT_KEY) -> EventKey:
    return EventKey.objects.create(
        environment=environment, name="app", prefix=secret[:8], key_hash=token_hash(secret)
    )


def wait_for_run(run_or_filter, *, status=None, timeout: float = 30) -> Run:
    """Poll until the run has finished (or has `status`); fail with its history otherwise."""
    deadline = time.monotonic() + timeout
    run = None
    while time.monotonic() < deadline:
        run = run_or_filter() if callable(run_or_filter) else Run.objects.get(pk=run_or_filter.pk)
        if run is not None and (
            (status and run.status == status) or (not status and run.is_finished)
        ):
            return run
        time.sleep(0.05)
    history = list(run.history.values_list("kind", "step_name", "data")) if run else []
    raise AssertionError(
        f"run did not reach {status or 'a final state'}: {run and run.status} {history}"
    )


@contextlib.contextmanager
def paths_served():
    """The paths of the requests the in-process live server handles meanwhile (an SDK's calls
    to /v0/..., say), in order."""
    paths = []

    def record(sender, scope=None, **kwargs):
        if scope is not None:
            paths.append(scope["path"])

    request_started.connect(record, weak=False)
    try:
        yield paths
    finally:
        request_started.disconnect(record)


def celery_broker_url() -> str | None:
    """A Redis database of its own for the test broker (the cache flushes REDIS_URL's between
    tests), or None when no Redis is reachable."""
    if override := os.environ.get("CELERY_TEST_BROKER_URL"):
        return override  # checkouts tested side by side each need a broker of their own
    parts = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=0.5):
            pass
    except OSError:
        return None
    return urlunsplit(parts._replace(path="/15"))


def database_url(application_name: str = "") -> str:
    """The test database, as a URL a worker process can use; on PostgreSQL its connections
    show as `application_name` in pg_stat_activity."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    query = f"?application_name={application_name}" if application_name else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}{query}"


_WORKER_NUMBERS = itertools.count()


class CeleryWorker:
    """A real `celery worker` process on the test database (`beat=True`: a `celery beat` with
    the DatabaseScheduler instead, which fires cron PeriodicTasks)."""

    def __init__(
        self, broker: str, env: dict[str, str], *, beat: bool = False, concurrency: int = 8
    ):
        self.broker, self.beat, self.concurrency = broker, beat, concurrency
        self.hostname = f"engine-tests-{os.getpid()}-{next(_WORKER_NUMBERS)}@localhost"
        self._env = {
            **os.environ,
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "CELERY_BROKER_URL": broker,
            "EXECUTOR_BACKEND": "celery",
            "DATABASE_URL": database_url(application_name=self.hostname),
        }
        self._process: subprocess.Popen | None = None

    def start(self) -> "CeleryWorker":
        base = [sys.executable, "-m", "celery", "-A", "controlplane"]
        if self.beat:
            command = [
                *base,
                "beat",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--loglevel",
                "WARNING",
            ]
        else:
            command = [
                *base,
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                self.hostname,
            ]
        self._process = subprocess.Popen(command, env=self._env, cwd=ROOT, start_new_session=True)
        if self.beat:
            time.sleep(0.5)
            if self._process.poll() is not None:
                raise RuntimeError("celery beat exited at start")
        else:
            self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        """Until the worker answers a ping it consumes nothing: jobs due meanwhile would all
        run at once when it comes up, which timing tests (throttle) would see."""
        from controlplane.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("the celery worker exited at start")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return
        raise RuntimeError("the celery worker did not answer a ping")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        _kill_group(self._process, signal.SIGKILL)

    def stop(self) -> None:
        _kill_group(self._process, signal.SIGTERM)


class RedisServer:
    """A redis-server of the test's own on a free port, for tests that kill and restart the
    broker (the machine's shared Redis is never touched). Nothing is persisted: a restart
    loses every queued message, as a crashed Redis without persistence does."""

    def __init__(self):
        from tests.live import free_port

        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        import redis

        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: clients see their connections reset, mid-command or idle."""
        _kill_group(self._process, signal.SIGKILL)

    def restart(self, *, down_seconds: float = 1) -> None:
        self.kill()
        time.sleep(down_seconds)
        self.start()


class ServerProcess:
    """`manage.py serve` (HTTP + the local executor) as its own process on the test database,
    so a test can kill -9 it mid-step and start it again. With `output`, what it prints (the
    access log, every logger) goes to that file."""

    def __init__(self, env: dict[str, str], *, output: Path | None = None):
        from tests.live import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {
            **os.environ,
            **env,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "EXECUTOR_BACKEND": "local",
            "DATABASE_URL": database_url(),
        }
        self._process: subprocess.Popen | None = None
        self._output = output

    def start(self) -> "ServerProcess":
        import httpx

        command = [sys.executable, "manage.py", "serve", "--port", str(self.port)]
        with open(self._output or os.devnull, "ab") as output:
            self._process = subprocess.Popen(
                command,
                env=self._env,
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT if self._output else None,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/static/css/app.css", timeout=0.5)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server process did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, nothing flushed."""
        _kill_group(self._process, signal.SIGKILL)

    def stop(self) -> None:
        _kill_group(self._process, signal.SIGTERM)


def _kill_group(process: subprocess.Popen | None, sig: int) -> None:
    """Signal the process and everything it started, then reap it."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
