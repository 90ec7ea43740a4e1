"""Flow control (issue 8), next to baselines measured in the same run, local executor on
PostgreSQL, the user's app being bench/sdk_app.py (official Python SDK).

  keyed_vs_free  steps/s of 1-step runs with `concurrency: {limit: 5, key: event.data.k}` over 50
                 keys (W9), against the same function without a limit: the limit's cost
  fairness       environment B's event -> first SDK call p50/p99 while environment A floods
                 the queue with 1,000 runs, against the same events of B with A idle
"""

import statistics
import threading
import time

import httpx
import psycopg

from bench.bench_engine import _App, _executor, _pct, _wait_finished
from bench.server import bootstrap_environments, database_create

RUNS = 300
FLOOD = 1000
PROBES = 20


def run(report) -> None:
    database = database_create("cp_bench_flow")
    environments = bootstrap_environments(database)
    prod, dev = environments["production"], environments["development"]
    with _executor("local", database) as executor, _App(prod["signing_key"]) as app_a:
        app_a.start(executor.url)
        app_a.sync()
        free = _throughput(executor, prod, database, "one", lambda n: {})
        keyed = _throughput(executor, prod, database, "keyed", lambda n: {"k": f"key-{n % 50}"})
        report.baselines["flow_free"] = free
        report.results["flow_keyed"] = keyed
        report.ratio("keyed/free steps", keyed["steps_per_s"], free["steps_per_s"])
        with _App(dev["signing_key"]) as app_b:
            app_b.start(executor.url)
            app_b.sync()
            idle = _probe(executor, dev, database)
            flooded = _probe(executor, dev, database, flood=(prod, FLOOD))
        report.baselines["fairness_idle"] = idle
        report.results["fairness_flooded"] = flooded
        report.ratio("B p99 flooded/idle", flooded["first_call_p99_ms"], idle["first_call_p99_ms"])


def _throughput(executor, env: dict, database: str, function: str, data) -> dict:
    marker = f"{function}-{time.time_ns()}"
    events = [
        {"name": f"bench/{function}", "data": {"marker": marker, **data(n)}} for n in range(RUNS)
    ]
    url = f"{executor.url}/e/{env['event_key']}"
    for chunk in range(0, RUNS, 100):
        httpx.post(url, json=events[chunk : chunk + 100], timeout=120).raise_for_status()
    rows = _wait_finished(database, marker, RUNS)
    seconds = (max(r["ended_at"] for r in rows) - min(r["queued_at"] for r in rows)).total_seconds()
    return {"runs": RUNS, "seconds": round(seconds, 2), "steps_per_s": round(RUNS / seconds, 1)}


def _probe(executor, env: dict, database: str, flood: tuple | None = None) -> dict:
    """Environment B's latency: PROBES events 100 ms apart, optionally during A's flood."""
    flooding = None
    if flood:
        flood_env, count = flood
        events = [{"name": "bench/one", "data": {"flood": True}} for _ in range(count)]

        def send_flood():
            url = f"{executor.url}/e/{flood_env['event_key']}"
            for chunk in range(0, count, 100):
                httpx.post(url, json=events[chunk : chunk + 100], timeout=300).raise_for_status()

        flooding = threading.Thread(target=send_flood)
        flooding.start()
        time.sleep(2)  # A's backlog builds up first
    marker = f"probe-{time.time_ns()}"
    url = f"{executor.url}/e/{env['event_key']}"
    with httpx.Client(timeout=60) as client:
        for n in range(PROBES):
            client.post(
                url, json=[{"name": "bench/one", "data": {"marker": marker, "n": n}}]
            ).raise_for_status()
            time.sleep(0.1)
    rows = _wait_finished(database, marker, PROBES, timeout=600)
    backlog = _backlog(database)
    if flooding:
        flooding.join()
    waits = sorted((r["started_at"] - r["received_at"]).total_seconds() * 1000 for r in rows)
    return {
        "probes": PROBES,
        "first_call_p50_ms": round(statistics.median(waits), 1),
        "first_call_p99_ms": _pct(waits, 0.99),
        "other_env_backlog_after": backlog,
    }


def _backlog(database: str) -> int:
    with psycopg.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM runs_run WHERE started_at IS NULL").fetchone()[0]
