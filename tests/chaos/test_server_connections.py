"""A server under a flood holds no more PostgreSQL connections than the README's formula counts
for it (DB_POOL_SIZE), and answers every request: it once kept one per request thread, until
PostgreSQL refused more clients and requests failed with 500.

The server runs as in production (`manage.py serve`, the real settings) on a PostgreSQL cluster
of this test's own, so the flood cannot exhaust the one other tests share.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.connections import connections_held
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
POOL_SIZE = 10  # DB_POOL_SIZE's default: what one server may hold (README: Database connections)
SENDERS, REQUESTS_EACH = 200, 2
APPLICATION = "chaos-server"


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A throwaway cluster on a free port (max_connections as PostgreSQL's default), no fsync."""

    def __init__(self, bin_dir: Path):
        self.bin_dir, self.port = bin_dir, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="cp-pg-"))
        # initdb refuses to run as root: the cluster belongs to `postgres` then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.dir, "postgres")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> "PrivatePostgres":
        data = self.dir / "data"
        self._run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", data, "-o", options, "-l", self.dir / "log", "-w", "start")
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute("CREATE DATABASE controlplane")
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", self.dir / "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def _run(self, program: str, *args) -> None:
        command = [*self._as, str(self.bin_dir / program), *map(str, args)]
        subprocess.run(command, check=True, capture_output=True)


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """The production settings on a private cluster, migrated, with an organization's keys."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("needs PostgreSQL's server binaries (postgresql on Debian)")
    postgres = PrivatePostgres(bin_dir).start()
    unset = {"DATABASE_URL", "DB_POOL_SIZE", "DB_CONN_MAX_AGE", "DJANGO_SETTINGS_MODULE"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {
        "DATABASE_URL": f"{postgres.url('controlplane')}?application_name={APPLICATION}",
        "SECRET_KEY": "chaos-test-secret-key",
        "ENCRYPTION_KEY": "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyEhISE=",
        "VAR_DIR": str(tmp_path_factory.mktemp("var")),
    }
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        bootstrap = [*manage, "bootstrap", "--org", "Chaos", "--email", "ops@chaos.test"]
        bootstrap += ["--password", "correct horse battery staple", "--json"]
        out = subprocess.run(bootstrap, env=env, cwd=ROOT, check=True, capture_output=True)
        keys = json.loads(out.stdout)["environments"]["production"]
        yield env, keys, postgres
    finally:
        postgres.stop()


@contextlib.contextmanager
def serving(env: dict):
    port = free_port()
    command = [sys.executable, "manage.py", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/health/live", timeout=0.5)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def test_a_flood_of_requests_stays_within_the_servers_pool(production):
    env, keys, postgres = production
    statuses, ids, lock = Counter(), [], threading.Lock()

    def sender(url: str) -> None:
        auth = {"Authorization": f"Bearer {keys['signing_key']}"}
        with httpx.Client(base_url=url, timeout=60) as client:
            for n in range(REQUESTS_EACH):
                sent = client.post(f"/e/{keys['event_key']}", json={"name": "chaos/flood"})
                listed = client.get("/v1/events", params={"limit": n + 1}, headers=auth)
                with lock:
                    statuses.update([sent.status_code, listed.status_code])
                    if sent.status_code == 200:
                        ids.extend(sent.json()["ids"])

    with serving(env) as url, connections_held(postgres.url("controlplane"), APPLICATION) as peak:
        started = time.monotonic()
        threads = [threading.Thread(target=sender, args=(url,)) for _ in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - started
    print(f"{sum(statuses.values())} requests in {seconds:.1f} s, {peak[0]} connections at most")
    assert statuses == {200: 2 * SENDERS * REQUESTS_EACH}
    assert 0 < peak[0] <= POOL_SIZE
    with psycopg.connect(postgres.url("controlplane")) as check:
        stored = check.execute("SELECT count(*) FROM events_event").fetchone()[0]
    assert stored == len(ids) == len(set(ids)) == SENDERS * REQUESTS_EACH
