"""Durable execution (BENCHMARKS.md W4, W5) next to a baseline measured in the same run.

The user's app is bench/sdk_app.py (the official Python SDK on Flask), in cloud mode: every call
signed, every answer verified. The server runs on PostgreSQL, first with the local executor,
then with the Celery backend (one `celery worker --pool threads` process, Redis broker).

Baselines (B5): the same app called directly with the requests the engine sends, by as many
concurrent callers as the executor has workers:
  B5_one  a 1-step run: a discovery call that runs the step, then one that returns (runs/s)
  B5_ten  a 10-step run: eleven calls with the growing memo (steps/s)
Workloads, for each backend:
  W4  1-step runs started by a burst of events: runs/s
  W4_latency  1-step runs at a steady 10 events/s: event received -> first SDK call p50/p95/p99
  W5  10-step runs: steps/s; step-to-step interval p50/p99 (a step's result stored -> the
      next step's result stored, which includes one SDK call)
  W4 and W5 also give each run's time from queued to ended, p50/p99
  W5_local_unkept  W5 with ENGINE_KEEP_SECONDS=0: every call through the queue
Ratios: W4/B5_one, W5/B5_ten, celery/local, kept/unkept.
"""

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jcs
import psycopg
import redis

from bench.server import ROOT, Server, bootstrap, database_create
from controlplane.keys.signatures import sign_request

WORKERS = 16
ONE_RUNS, TEN_RUNS = 300, 60
BASELINE_SECONDS = 8.0
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")


def run(report) -> None:
    database = database_create("cp_bench_engine")
    env = bootstrap(database)
    with _App(env["signing_key"]) as app:
        app.start("http://127.0.0.1:9")  # the baselines call the app directly
        report.baselines["B5_one"] = _direct(app, "bench-one", steps=1)
        report.baselines["B5_ten"] = _direct(app, "bench-ten", steps=10)
        for backend in ("local", "celery"):
            with _executor(backend, database) as executor:
                app.start(executor.url)
                app.sync()
                report.results[f"W4_{backend}"] = _workload(
                    executor, env, database, "one", ONE_RUNS, 1
                )
                report.results[f"W4_latency_{backend}"] = _latency(executor, env, database)
                report.results[f"W5_{backend}"] = _workload(
                    executor, env, database, "ten", TEN_RUNS, 10
                )
        # The same 10-step runs with every call through the queue (no worker keeps a run).
        with _executor("local", database, ENGINE_KEEP_SECONDS="0") as executor:
            app.start(executor.url)
            app.sync()
            report.results["W5_local_unkept"] = _workload(
                executor, env, database, "ten", TEN_RUNS, 10
            )
    results, baselines = report.results, report.baselines
    for backend in ("local", "celery"):
        report.ratio(
            f"W4_{backend}/B5_one",
            results[f"W4_{backend}"]["runs_per_s"],
            baselines["B5_one"]["runs_per_s"],
        )
        report.ratio(
            f"W5_{backend}/B5_ten",
            results[f"W5_{backend}"]["steps_per_s"],
            baselines["B5_ten"]["steps_per_s"],
        )
    report.ratio(
        "W4 celery/local", results["W4_celery"]["runs_per_s"], results["W4_local"]["runs_per_s"]
    )
    report.ratio(
        "W5 celery/local", results["W5_celery"]["steps_per_s"], results["W5_local"]["steps_per_s"]
    )
    report.ratio(
        "W5_local kept/unkept",
        results["W5_local"]["steps_per_s"],
        results["W5_local_unkept"]["steps_per_s"],
    )


class _App:
    """The SDK app process; it registers itself (a self-started sync) with whichever server."""

    def __init__(self, signing_key: str):
        self.signing_key = signing_key
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/inngest"
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, server_url: str) -> None:
        """(Re)start the app pointed at the server at `server_url`."""
        self.stop()
        env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
        env.update(
            PORT=str(self.port),
            INNGEST_DEV="0",
            INNGEST_SIGNING_KEY=self.signing_key,
            INNGEST_BASE_URL=server_url,
        )
        self.process = subprocess.Popen(
            [sys.executable, "bench/sdk_app.py"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        _wait_up(f"http://127.0.0.1:{self.port}/")

    def sync(self) -> None:
        answer = httpx.put(self.url, timeout=30)
        if answer.status_code != 200 or "error" in answer.text:
            raise RuntimeError(
                f"the bench app did not sync: {answer.status_code} {answer.text[:300]}"
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def _direct(
    app,
    slug: str,
    *,
    steps: int,
    event: str = "bench/direct",
    ctx: dict | None = None,
    seconds: float = BASELINE_SECONDS,
) -> dict:
    """Call the app's function `slug` like the engine does, from WORKERS threads, for
    `seconds`. `app`: anything with `url` and `signing_key`; `event`: the triggering event's
    name (the TS SDK checks it against the function's triggers); `ctx`: added to each
    request's."""
    url = f"{app.url}?fnId={slug}&stepId=step"
    done, durations = [0], []
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def caller() -> None:
        client = httpx.Client(timeout=30)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            _one_run(client, url, app.signing_key, event, ctx or {})
            with lock:
                done[0] += 1
                durations.append(time.perf_counter() - started)

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        callers = [pool.submit(caller) for _ in range(WORKERS)]
    for each in callers:
        each.result()  # a caller's error, raised here rather than lost
    seconds = time.monotonic() - started
    return {
        "runs_per_s": round(done[0] / seconds, 1),
        "steps_per_s": round(done[0] * steps / seconds, 1),
        "run_p50_ms": round(statistics.median(durations) * 1000, 1),
    }


def _one_run(client: httpx.Client, url: str, key: str, name: str, extra_ctx: dict) -> None:
    """One run, call after call with the growing memo, until the app answers 200."""
    event = {
        "name": name,
        "data": {},
        "id": "01JBENCH",
        "ts": int(time.time() * 1000),
        "user": {},
    }
    memo, stack = {}, []
    while True:
        ctx = {
            "run_id": "01JBENCHRUN",
            "attempt": 0,
            "max_attempts": 5,
            "use_api": False,
            "disable_immediate_execution": False,
            "stack": {"stack": stack, "current": len(stack)},
            **extra_ctx,
        }
        body = {"event": event, "events": [event], "steps": memo, "ctx": ctx}
        body.update(version=2, use_api=False)
        payload = jcs.canonicalize(body)
        answer = client.post(
            url,
            content=payload,
            headers={
                "Content-Type": "application/json",
                "X-Inngest-Signature": sign_request(payload, key),
                "X-Inngest-Server-Kind": "cloud",
                "X-Inngest-Req-Version": "2",
            },
        )  # fmt: skip
        if answer.status_code == 200:
            return
        [op] = answer.json()
        if op["op"] == "RunComplete":  # how the TS SDK ends a run it checkpointed
            return
        memo[op["id"]] = {"data": op["data"]}
        stack.append(op["id"])


class _executor:
    """The server with the given backend (and, for Celery, a worker process beside it)."""

    def __init__(self, backend: str, database: str, *, broker: str = BROKER, **settings: str):
        self.backend, self.database, self.broker = backend, database, broker
        self.server = Server(
            database,
            executor=backend == "local",
            EXECUTOR_BACKEND=backend,
            CELERY_BROKER_URL=broker,
            LOCAL_WORKERS=str(WORKERS),
            DB_POOL_SIZE="8",
            **settings,
        )
        self.worker = None

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def __enter__(self) -> "_executor":
        self.server.__enter__()
        if self.backend == "celery":
            redis.Redis.from_url(self.broker).flushdb()
            command = [sys.executable, "-m", "celery", "-A", "controlplane", "worker"]
            command += ["--pool", "threads", "-c", str(WORKERS), "--loglevel", "WARNING"]
            command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            self.worker = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.server.env, "DB_POOL_SIZE": "0", "DB_CONN_MAX_AGE": "60"},
            )  # a worker's threads live long: each keeps its connection (README)
            time.sleep(3)
        return self

    def __exit__(self, *exc) -> None:
        if self.worker and self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=15)
        self.server.__exit__()

    def cpu_seconds(self) -> float:
        return self.server.cpu_seconds() + (_process_cpu(self.worker.pid) if self.worker else 0.0)


def _workload(
    executor: "_executor", env: dict, database: str, function: str, runs: int, steps: int
) -> dict:
    marker = f"{function}-{time.time_ns()}"
    events = [
        {"name": f"bench/{function}", "data": {"marker": marker, "n": n}} for n in range(runs)
    ]
    cpu_before = executor.cpu_seconds()
    for chunk in range(0, runs, 100):
        url = f"{executor.url}/e/{env['event_key']}"
        httpx.post(url, json=events[chunk : chunk + 100], timeout=120).raise_for_status()
    rows = _wait_finished(database, marker, runs)
    cpu = executor.cpu_seconds() - cpu_before
    queued = min(r["queued_at"] for r in rows)
    ended = max(r["ended_at"] for r in rows)
    seconds = (ended - queued).total_seconds()
    result = {
        "runs": runs,
        "seconds": round(seconds, 2),
        "runs_per_s": round(runs / seconds, 1),
        "steps_per_s": round(runs * steps / seconds, 1),
        "engine_cpu_ms_per_step": round(cpu * 1000 / (runs * steps), 2),
    }
    # How long each run took, queued to ended: the whole burst was queued at once, so the
    # spread says how the executor shared its workers among the runs.
    took = sorted((r["ended_at"] - r["queued_at"]).total_seconds() * 1000 for r in rows)
    result["run_p50_ms"], result["run_p99_ms"] = _pct(took, 0.50), _pct(took, 0.99)
    if steps > 1:
        gaps = sorted(_step_gaps(database, [r["id"] for r in rows]))
        result["step_interval_p50_ms"] = _pct(gaps, 0.50)
        result["step_interval_p99_ms"] = _pct(gaps, 0.99)
    return result


def _latency(executor: "_executor", env: dict, database: str, count: int = 100) -> dict:
    """One event every 100 ms (well below capacity): the queue is short, so this is the
    engine's own delay from the event's commit to the first SDK call."""
    marker = f"latency-{time.time_ns()}"
    url = f"{executor.url}/e/{env['event_key']}"
    with httpx.Client(timeout=30) as client:
        for n in range(count):
            client.post(
                url, json=[{"name": "bench/one", "data": {"marker": marker, "n": n}}]
            ).raise_for_status()
            time.sleep(0.1)
    rows = _wait_finished(database, marker, count)
    first_call = sorted((r["started_at"] - r["received_at"]).total_seconds() * 1000 for r in rows)
    return {
        "runs": count,
        "first_call_p50_ms": _pct(first_call, 0.50),
        "first_call_p95_ms": _pct(first_call, 0.95),
        "first_call_p99_ms": _pct(first_call, 0.99),
    }


def _wait_finished(database: str, marker: str, runs: int, timeout: float = 300) -> list[dict]:
    query = """
        SELECT r.id, r.status, r.queued_at, r.started_at, r.ended_at, e.received_at
        FROM runs_run r JOIN events_event e ON e.id = r.event_id
        WHERE e.data->>'marker' = %s
    """
    deadline = time.monotonic() + timeout
    with psycopg.connect(database, row_factory=psycopg.rows.dict_row) as conn:
        while time.monotonic() < deadline:
            rows = conn.execute(query, [marker]).fetchall()
            conn.commit()
            if len(rows) == runs and all(r["ended_at"] for r in rows):
                failed = [r for r in rows if r["status"] != "completed"]
                if failed:
                    raise RuntimeError(f"{len(failed)} bench runs did not complete: {failed[0]}")
                return rows
            time.sleep(0.2)
    raise RuntimeError(f"bench runs did not finish in {timeout}s")


def _step_gaps(database: str, run_ids: list[int]) -> list[float]:
    query = """
        SELECT run_id, created_at FROM runs_runhistory
        WHERE run_id = ANY(%s) AND kind = 'step_completed' ORDER BY run_id, id
    """
    gaps, previous = [], {}
    with psycopg.connect(database) as conn:
        for run_id, at in conn.execute(query, [run_ids]):
            if run_id in previous:
                gaps.append((at - previous[run_id]).total_seconds() * 1000)
            previous[run_id] = at
    return gaps


def _pct(ordered: list[float], p: float) -> float:
    return (
        round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else float("nan")
    )


def _process_cpu(pid: int) -> float:
    total = 0.0
    for child in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


if __name__ == "__main__":
    from bench.report import Report

    report = Report()
    run(report)
    print(json.dumps(report.as_dict(), indent=2))
