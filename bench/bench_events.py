"""Event API ingestion (BENCHMARKS.md W1, W2) next to baselines measured in the same run.

Workloads, against the real server (uvicorn, one process) on PostgreSQL with DB_POOL_SIZE set:
  W1         single-event POST /e/{key}, as the SDKs send it: a one-element array plus a fresh
             X-Inngest-Event-Id-Seed (so the duplicate check and its advisory lock run)
  W1_noseed  the same without the seed header
  W2         100 events per POST (with a seed)
  W1_nopool  W1 without a pool (DB_POOL_SIZE=0: a new connection per request)
Baselines:
  B3_single, B3_batch100  a bare Django JSON POST of the same bodies through the same ASGI
                          wrapper and middleware, no database
  B1_single, B1b_batch100 raw psycopg INSERTs of the same rows into the same table: one row per
                          transaction, and 100 rows per transaction
All with CONNECTIONS concurrent closed-loop clients; latency = request sent to answer read.
"""

import base64
import json
import os
import threading
import time
from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from bench.load import post_load, summarize
from bench.server import Server, bootstrap, database_create
from controlplane.ids import new_ulid

CONNECTIONS = 4
POOL_SIZE = 8
WARMUP, SECONDS = 2.0, 10.0
BATCH = 100
# About 300 bytes of JSON, like BENCHMARKS.md's B1 row.
DATA = {
    "order_id": "ord_01J8Z6Q4W2M3N5P7R9T1V3X5Z7",
    "customer": {"id": "cus_4242", "email": "someone@example.com", "tier": "gold"},
    "items": [{"sku": "SKU-1001", "qty": 2, "price": 1999}, {"sku": "SKU-2002", "qty": 1}],
    "total": 5997,
    "currency": "EUR",
    "source": "checkout-web",
}
INSERT = (
    "INSERT INTO events_event (public_id, environment_id, name, data, external_id, ts, "
    '"user", version, meta, received_at, source, event_key_id) '
    "VALUES (%s, %s, %s, %s, '', %s, '{}', '', '{}', %s, 'api', %s)"
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _body(count: int) -> bytes:
    return json.dumps(
        [{"name": "bench/order.paid", "data": DATA, "ts": _now_ms()}] * count
    ).encode()


def _seed_header() -> list[str]:
    return [f"X-Inngest-Event-Id-Seed: {_now_ms()},{base64.b64encode(os.urandom(10)).decode()}"]


def _http_phase(server: Server, path: str, count: int, *, seeded: bool) -> dict:
    body = _body(count)
    cpu_before = server.cpu_seconds()
    result = post_load(
        server.host,
        server.port,
        path,
        lambda: (body, _seed_header() if seeded else []),
        connections=CONNECTIONS,
        warmup=WARMUP,
        seconds=SECONDS,
        events_per_request=count,
    )
    cpu = server.cpu_seconds() - cpu_before
    result["server_cpu_ms_per_event"] = round(cpu * 1000 / result["all_events"], 3)
    return result


def _insert_phase(url: str, rows_per_txn: int, environment_id: int, key_id: int) -> dict:
    """B1/B1b: CONNECTIONS threads, each with its own connection, inserting in a loop."""
    latencies, total = [], [0]
    start = time.perf_counter()
    measure_from, deadline = start + WARMUP, start + WARMUP + SECONDS
    lock = threading.Lock()

    def worker():
        with psycopg.connect(url, autocommit=True) as conn:
            while (began := time.perf_counter()) < deadline:
                now = datetime.now(UTC)
                rows = [
                    (new_ulid(), environment_id, "bench/order.paid", Jsonb(DATA), _now_ms(), now,
                     key_id)
                    for _ in range(rows_per_txn)
                ]  # fmt: skip
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(INSERT, rows)
                with lock:
                    total[0] += 1
                    if began >= measure_from:
                        latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = summarize(latencies, time.perf_counter() - measure_from, rows_per_txn)
    result["all_events"] = total[0] * rows_per_txn
    return result


def _truncate(url: str) -> None:
    """Between phases. CASCADE: runs, skips and waits reference events (this bench has none)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE events_event CASCADE")


def _server_settings(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("server_version", "synchronous_commit", "fsync", "shared_buffers")
        }


def run(report) -> None:
    url = database_create("cp_bench")
    target = bootstrap(url)
    with psycopg.connect(url) as conn:
        key_id = conn.execute(
            "SELECT id FROM keys_eventkey WHERE environment_id = %s", [target["environment_id"]]
        ).fetchone()[0]
    report.env["postgres"] = _server_settings(url)
    report.env["events_bench"] = {
        "connections": CONNECTIONS,
        "warmup_s": WARMUP,
        "measured_s": SECONDS,
        "server": f"uvicorn, 1 process, DB_POOL_SIZE={POOL_SIZE} (W1_nopool: 0)",
    }
    event_path = f"/e/{target['event_key']}"
    phases = [
        ("baselines", "B3_single", "/e/bench/bare-json", 1, False),
        ("results", "W1", event_path, 1, True),
        ("results", "W1_noseed", event_path, 1, False),
        ("baselines", "B3_batch100", "/e/bench/bare-json", BATCH, False),
        ("results", "W2", event_path, BATCH, True),
    ]
    with Server(url, DB_POOL_SIZE=str(POOL_SIZE)) as server:
        for section, name, path, count, seeded in phases:
            print(f"  {name} ...", flush=True)
            getattr(report, section)[name] = _http_phase(server, path, count, seeded=seeded)
            _truncate(url)
    with Server(url, DB_POOL_SIZE="0") as server:
        print("  W1_nopool ...", flush=True)
        report.results["W1_nopool"] = _http_phase(server, event_path, 1, seeded=True)
        _truncate(url)
    for name, rows in (("B1_single", 1), ("B1b_batch100", BATCH)):
        print(f"  {name} ...", flush=True)
        report.baselines[name] = _insert_phase(url, rows, target["environment_id"], key_id)
        _truncate(url)

    w, b = report.results, report.baselines
    report.ratio("W1/B3", w["W1"]["events_per_s"], b["B3_single"]["events_per_s"])
    report.ratio("W1/B1", w["W1"]["events_per_s"], b["B1_single"]["events_per_s"])
    report.ratio("W1/W1_noseed", w["W1"]["events_per_s"], w["W1_noseed"]["events_per_s"])
    report.ratio("W1_nopool/B3", w["W1_nopool"]["events_per_s"], b["B3_single"]["events_per_s"])
    report.ratio("W2/B1b", w["W2"]["events_per_s"], b["B1b_batch100"]["events_per_s"])
    report.ratio("W2/B3_batch100", w["W2"]["events_per_s"], b["B3_batch100"]["events_per_s"])
