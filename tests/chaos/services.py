"""A private PostgreSQL cluster and a private Redis on free ports, which the scenarios restart:
the machine's shared ones are never touched."""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import redis

from tests.chaos.processes import Process, wait_until
from tests.live import free_port

DATABASE = "controlplane"


def services_missing() -> str | None:
    """Why the suite cannot run here (no PostgreSQL server binaries or no redis-server)."""
    if not postgres_bin_dir():
        return "no PostgreSQL server binaries (initdb, pg_ctl)"
    if not shutil.which("redis-server"):
        return "no redis-server"
    return None


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _version(path: str) -> int:
    return int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0


class Postgres:
    """`initdb` into a temporary directory of its own (as the postgres OS user when run as
    root: initdb refuses root, and pytest's temporary directories are closed to others),
    `pg_ctl` to start and stop it (fast, or immediate: a crash) on a free port. Its log is
    copied to `log_copy` when the cluster is removed."""

    def __init__(self, log_copy: Path):
        self.root, self.port = Path(tempfile.mkdtemp(prefix="chaos-pg-")), free_port()
        self.data, self.log, self.log_copy = self.root / "data", self.root / "log", log_copy
        self.bin = postgres_bin_dir()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *command: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run(
            [*as_postgres, str(self.bin / command[0]), *command[1:]],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def create(self) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N", "-E", "UTF8"
        )
        self.start()
        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return self

    def start(self) -> None:
        # fsync off: a process crash loses nothing (the OS keeps what was written), and the
        # suite never crashes the OS. Commits stay synchronous.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`mode` immediate: like a crash, recovered from the WAL at the next start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        if self.running:
            self.stop()
        if self.log.exists():
            shutil.copy(self.log, self.log_copy)
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def running(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def wait_ready(self, *, timeout: float = 60) -> None:
        def answers() -> bool:
            try:
                with self.connect() as conn:
                    return conn.execute("SELECT 1").fetchone() == (1,)
            except psycopg.Error:
                return False

        wait_until(answers, timeout=timeout, what="PostgreSQL to answer")


def redis_process(root: Path) -> tuple[Process, str]:
    """redis-server with nothing persisted: a restart loses every queued message."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return redis.Redis.from_url(url, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    command = [
        *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
        *("--save", "", "--appendonly", "no", "--daemonize", "no"),
    ]
    return Process("redis", command, env=dict(os.environ), log_dir=root, ready=ready), url
