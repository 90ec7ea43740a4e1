"""The scale-out shape the README documents ("Executors"), on private services: PostgreSQL,
Redis, two `manage.py serve` processes with the Celery backend, two Celery workers (threads
pool), one celery beat (DatabaseScheduler) and a real Python SDK app whose steps keep a
ledger. Started once per session; `heal` brings back whatever a scenario left down."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from celery import Celery

from tests.chaos.processes import ROOT, Process, wait_until
from tests.chaos.services import Postgres, redis_process
from tests.live import free_port
from tests.sdk_apps.processes import SdkApp, python_app

# Short enough that every scenario recovers in seconds; the README's defaults are 30 s.
ENGINE_ENV = {
    "EXECUTOR_BACKEND": "celery",
    "JOB_LEASE_SECONDS": "4",
    "JOB_REPUBLISH_SECONDS": "4",
    "ENGINE_POLL_SECONDS": "0.2",
    "RETRY_BACKOFF_SCALE": "0.01",
    "SDK_CALL_TIMEOUT_SECONDS": "4",
    "LOG_LEVEL": "WARNING",
    # The real settings with test keys, static files served from the finders (no collectstatic).
    "DJANGO_SETTINGS_MODULE": "tests.settings",
}
# The README's production guidance for connections is its defaults: every process pools them
# (DB_POOL_SIZE); each process's show under its name in pg_stat_activity (`application_name`).
WORKER_CONCURRENCY = 8
# What configures the project in the test runner's own environment (its database, broker):
# never handed to the shape's processes.
RUNNER_ONLY = ("DATABASE_URL", "REDIS_URL", "CELERY_", "DB_", "INNGEST_", "PROMETHEUS_", "OTEL_")
PASSWORD = "chaos monkey battery staple"


@dataclass(frozen=True)
class Environment:
    """An environment's id and keys, as `manage.py bootstrap --json` prints them."""

    id: str
    event_key: str
    signing_key: str


@dataclass
class Fault:
    """A scenario that restarted PostgreSQL or Redis or killed a worker: from its start until
    the shape was healed after it."""

    name: str
    started: float
    ended: float | None = None


class Shape:
    def __init__(self, root: Path):
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ledger = root / "ledger.jsonl"
        self.postgres = Postgres(self.logs / "postgres.log")
        self.redis, self.redis_url = redis_process(self.logs)
        self.servers = [self._server(name) for name in ("server-a", "server-b")]
        self.workers = [self._worker(name) for name in ("worker-1", "worker-2")]
        self.beat = self._beat()
        self.app: SdkApp | None = None
        self.production = self.development = self.other_org = None
        self.faults: list[Fault] = []
        self.synced_at = 0.0

    # --- the processes -------------------------------------------------------------------

    def env(self, extra: dict[str, str] | None = None, *, name: str = "manage") -> dict[str, str]:
        own = {k: v for k, v in os.environ.items() if not k.startswith(RUNNER_ONLY)}
        return {
            **own,
            **ENGINE_ENV,
            "DATABASE_URL": f"{self.postgres.url}?application_name={name}",
            "REDIS_URL": f"{self.redis_url}/0",
            "CELERY_BROKER_URL": f"{self.redis_url}/1",
            **(extra or {}),
        }

    def _server(self, name: str) -> Process:
        port = free_port()
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        command = [sys.executable, "manage.py", "serve", "--port", str(port)]
        env = self.env(name=name)
        return Process(name, command, env=env, log_dir=self.logs, ready=ready, url=url)

    def _worker(self, name: str) -> Process:
        hostname = f"chaos-{name}@localhost"
        command = [
            *(sys.executable, "-m", "celery", "-A", "controlplane", "worker"),
            *("--pool", "threads", "--concurrency", str(WORKER_CONCURRENCY)),
            *("--hostname", hostname, "--loglevel", "WARNING"),
        ]

        def ready() -> bool:
            probe = Celery("chaos-probe", broker=f"{self.redis_url}/1")
            try:
                return bool(probe.control.ping(destination=[hostname], timeout=0.5))
            except Exception:  # the broker itself may be down or restarting
                return False
            finally:
                probe.close()

        return Process(name, command, env=self.env(name=name), log_dir=self.logs, ready=ready)

    def _beat(self) -> Process:
        command = [
            *(sys.executable, "-m", "celery", "-A", "controlplane", "beat"),
            *("--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"),
            *("--loglevel", "INFO", "--pidfile", ""),
        ]
        beat = Process("beat", command, env=self.env(name="beat"), log_dir=self.logs)
        beat.ready = lambda: "beat: Starting" in beat.output()
        return beat

    @property
    def engine_processes(self) -> list[Process]:
        return [*self.servers, *self.workers, self.beat]

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> "Shape":
        self.postgres.create()
        self.redis.start()
        self.manage("migrate", "--noinput", "-v0")
        self.production, self.development = self._bootstrap("Chaos", "ops@chaos.test")
        self.other_org, _ = self._bootstrap("Elsewhere", "ops@elsewhere.test")
        for process in self.engine_processes:
            process.start()
        self.app = self._app().start()
        self.sync_app()
        return self

    def stop(self) -> None:
        if self.app:
            self.app.stop()
        for process in [*self.engine_processes, self.redis]:
            process.stop()
        self.postgres.remove()

    def manage(self, *args: str) -> str:
        """A `manage.py` command on the shape's database; its stdout."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            env=self.env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args[:1])} failed: {done.stderr[-3000:]}")
        return done.stdout

    def django(self, code: str) -> str:
        """Run Python with the ORM on the shape's database (what no endpoint does: revoke a
        key); what it prints."""
        return self.manage("shell", "-c", code)

    def _bootstrap(self, org: str, email: str) -> tuple[Environment, Environment]:
        out = json.loads(
            self.manage(
                "bootstrap", "--org", org, "--email", email, "--password", PASSWORD, "--json"
            )
        )
        envs = out["environments"]
        return tuple(
            Environment(envs[slug]["id"], envs[slug]["event_key"], envs[slug]["signing_key"])
            for slug in ("production", "development")
        )

    def _app(self) -> SdkApp:
        return python_app(
            {
                "INNGEST_DEV": "0",
                "INNGEST_SIGNING_KEY": self.production.signing_key,
                "INNGEST_EVENT_KEY": self.production.event_key,
                "INNGEST_BASE_URL": self.servers[0].url,
                "APP_ID": "chaos",
                "APP_LEDGER": str(self.ledger),
            },
            script="chaos_app.py",
        )

    def sync_app(self) -> None:
        """The app registers itself (`PUT`: the SDK posts its functions to /fn/register)."""
        response = httpx.put(self.app.url, timeout=30)
        assert response.status_code == 200, response.text
        self.synced_at = time.time()

    def heal(self) -> list[str]:
        """Start again whatever is down, wait until every process is ready and the queue has
        drained; close open fault windows. The names of the processes that had to be
        restarted."""
        if not self.postgres.running:
            self.postgres.start()
        self.postgres.wait_ready()
        restarted = []
        for process in [self.redis, *self.engine_processes]:
            if not process.running:
                process.start()
                restarted.append(process.name)
            else:
                process.wait_ready()
        self.wait_for_idle()
        now = time.time()
        for fault in self.faults:
            fault.ended = fault.ended or now
        return restarted

    def start_all(self, processes: list[Process]) -> None:
        """Start processes side by side (a fleet coming back), each until it is ready."""
        with ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(Process.start, processes))

    def fault(self, name: str) -> None:
        """Open a fault window; the next `heal` closes it."""
        self.faults.append(Fault(name, time.time()))

    def wait_for_idle(self, timeout: float = 90) -> None:
        """Until no run is queued or running (sleeping ones may stay)."""
        wait_until(
            lambda: (
                self.scalar("SELECT count(*) FROM runs_run WHERE status = ANY(%s)", ACTIVE) == 0
            ),
            timeout=timeout,
            every=0.5,
            what="the queue to drain",
        )

    # --- the database ----------------------------------------------------------------------

    def rows(self, sql: str, *params) -> list[tuple]:
        with self.postgres.connect() as conn:
            return conn.execute(sql, params or None).fetchall()

    def scalar(self, sql: str, *params):
        return self.rows(sql, *params)[0][0]


ACTIVE = ["queued", "running"]  # the run statuses of work in the queue (not sleeping, waiting)
