"""The real server for benchmarks: a fresh PostgreSQL database, migrated, and uvicorn serving
the product's ASGI application in a process of its own (so the load generator does not share
its interpreter), with bench/urls.py adding the baseline endpoints beside the product's."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def database_create(name: str) -> str:
    """Drop and create `name` (after BENCH_DATABASE_PREFIX, so checkouts sharing one PostgreSQL
    need not drop each other's bench database), migrate it; its URL."""
    name = os.environ.get("BENCH_DATABASE_PREFIX", "") + name
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    manage("migrate", "--noinput", "-v0", database=url)
    return url


def manage(*args: str, database: str) -> str:
    env = {**os.environ, "DATABASE_URL": database, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def bootstrap(database: str) -> dict:
    """An organization's production environment: {"event_key", "signing_key", "environment_id"}."""
    return bootstrap_environments(database)["production"]


def bootstrap_environments(database: str) -> dict[str, dict]:
    """The bootstrapped organization's environments by name, each as `bootstrap` returns it.
    Once per database: running bootstrap again replaces the event keys it made."""
    out = manage(
        "bootstrap", "--org", "Bench", "--email", "bench@bench.test",
        "--password", "bench-password-not-secret", "--json", database=database,
    )  # fmt: skip
    environments = json.loads(out)["environments"]
    with psycopg.connect(database) as conn:
        ids = dict(
            conn.execute(
                "SELECT public_id, id FROM tenancy_environment WHERE public_id = ANY(%s)",
                [[env["id"] for env in environments.values()]],
            ).fetchall()
        )
    return {
        name: {
            "event_key": env["event_key"],
            "signing_key": env["signing_key"],
            "environment_id": ids[env["id"]],
        }
        for name, env in environments.items()
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """uvicorn with one worker, like `manage.py serve`; `settings` are extra env variables
    (e.g. DB_POOL_SIZE). With `executor`, the ASGI lifespan starts the local executor too."""

    def __init__(self, database: str, *, executor: bool = False, **settings: str):
        self.lifespan = "on" if executor else "off"
        self.host, self.port = "127.0.0.1", _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "controlplane.asgi:application",
                "--host", self.host, "--port", str(self.port),
                "--lifespan", self.lifespan, "--no-access-log", "--log-level", "warning",
            ],
            cwd=ROOT, env=self.env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://{self.host}:{self.port}/static/css/app.css", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the benchmark server did not start")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def cpu_seconds(self) -> float:
        """User + system CPU the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
