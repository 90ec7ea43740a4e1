"""Live timelines (BENCHMARKS.md W12) and the runs list at a million runs, each next to a
baseline measured in the same run.

W12_push: 100 websocket clients (signed in, as a browser would be) watch the page of one run of
  bench/sdk_app.py's `live` function: 20 steps, 100 ms apart. For every step completed after
  all clients connected: the time from its `step_completed` timeline row (written in the
  outcome's transaction) to the message carrying that step's completed row, at each client;
  p50/p99 over steps x clients. Local executor, in-memory channel layer: the embedded default.
L1_*: the runs list page (first page; status filter; status + function filter; a page deep in
  the keyset) in an environment with 1,000,000 runs: p50/p95/p99 over REQUESTS requests.
B6_list_query: the first page's query alone (same rows, joins and index) with psycopg, on a
  new connection each time as a request without DB_POOL_SIZE has. Ratio: L1 first page p95 / B6
  p95.
"""

import asyncio
import re
import statistics
import time

import httpx
import psycopg
from websockets.asyncio.client import connect

from bench.bench_engine import _App, _executor, _pct
from bench.server import bootstrap, database_create, manage

CLIENTS = 100
RUNS = 1_000_000
REQUESTS = 50
ORG, ENV = "bench", "production"
COMPLETED_ROW = re.compile(
    r'<tr id="step-([0-9a-f]+)" class="step"[^>]*>(?:(?!</tr>).)*status-completed', re.S
)


def run(report) -> None:
    database = database_create("cp_bench_live")
    env = bootstrap(database)
    manage("collectstatic", "--noinput", "-v0", database=database)  # the pages link to it
    with _App(env["signing_key"]) as app, _executor("local", database) as executor:
        app.start(executor.url)
        app.sync()
        cookie = _sign_in(executor.url)
        report.results["W12_push_local"] = _push_latency(executor.url, env, database, cookie)
        _fill_runs(database, env["environment_id"])
        report.results.update(_list_pages(executor.url, database, cookie))
        report.baselines["B6_list_query"] = _timed(lambda: _list_query(database, env))
    report.ratio(
        "L1 first page p95/B6 p95",
        report.results["L1_first_page"]["p95_ms"],
        report.baselines["B6_list_query"]["p95_ms"],
    )


def _sign_in(url: str) -> str:
    """A session cookie for the bootstrap owner, through the real sign-in form."""
    with httpx.Client(base_url=url) as client:
        client.get("/account/login/")
        answer = client.post(
            "/account/login/",
            data={
                "email": "bench@bench.test",
                "password": "bench-password-not-secret",
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        if answer.status_code != 302:
            raise RuntimeError(f"bench sign-in failed: {answer.status_code}")
        return f"sessionid={client.cookies['sessionid']}"


def _push_latency(url: str, env: dict, database: str, cookie: str) -> dict:
    marker = f"live-{time.time_ns()}"
    httpx.post(
        f"{url}/e/{env['event_key']}", json=[{"name": "bench/live", "data": {"marker": marker}}]
    ).raise_for_status()
    run_pk, public_id = _run_of(database, marker)
    seen, connected_at = asyncio.run(_watch(url, public_id, cookie))
    completed = _completions(database, run_pk, after=connected_at)
    latencies = sorted(
        (at - completed[step]) * 1000
        for client in seen
        for step, at in client.items()
        if step in completed
    )
    return {
        "clients": CLIENTS,
        "steps_measured": len(completed),
        "messages_measured": len(latencies),
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
    }


def _run_of(database: str, marker: str) -> tuple[int, str]:
    query = """SELECT r.id, r.public_id FROM runs_run r JOIN events_event e ON e.id = r.event_id
               WHERE e.data->>'marker' = %s"""
    with psycopg.connect(database, autocommit=True) as conn:
        for _ in range(100):
            if row := conn.execute(query, [marker]).fetchone():
                return row
            time.sleep(0.1)
    raise RuntimeError("the bench run did not start")


async def _watch(url: str, public_id: str, cookie: str) -> tuple[list[dict], float]:
    """Connect every client, then record when each first sees each step completed."""
    ws_url = url.replace("http", "ws") + f"/ws/{ORG}/{ENV}/runs/{public_id}/?after=0"
    headers = {"Cookie": cookie}
    sockets = [
        await connect(ws_url, origin=url, additional_headers=headers, max_size=None)
        for _ in range(CLIENTS)
    ]
    connected_at = time.time()

    async def listen(socket) -> dict:
        seen = {}
        try:
            async with asyncio.timeout(60):
                async for message in socket:
                    at = time.time()
                    for step in COMPLETED_ROW.findall(message):
                        seen.setdefault(step, at)
                    if "status-completed" in message and 'id="run-header"' in message:
                        return seen
        finally:
            await socket.close()
        return seen

    return await asyncio.gather(*(listen(s) for s in sockets)), connected_at


def _completions(database: str, run_pk: int, *, after: float) -> dict[str, float]:
    query = """SELECT step_id, created_at FROM runs_runhistory
               WHERE run_id = %s AND kind = 'step_completed'"""
    with psycopg.connect(database) as conn:
        rows = conn.execute(query, [run_pk]).fetchall()
    return {step: at.timestamp() for step, at in rows if at.timestamp() > after}


def _fill_runs(database: str, environment_id: int) -> None:
    """RUNS finished runs of one function, one a second back from now (raw INSERT ... SELECT:
    the product's write path is measured elsewhere)."""
    with psycopg.connect(database) as conn:
        function_id, event_id = conn.execute(
            "SELECT function_id, event_id FROM runs_run WHERE environment_id = %s LIMIT 1",
            [environment_id],
        ).fetchone()
        conn.execute(
            """
            INSERT INTO runs_run (public_id, environment_id, function_id, function_version,
                status, event_id, output, sdk_version, disable_immediate_execution,
                parent_step_id, priority, concurrency, singleton_key, memo_count,
                queued_at, started_at, ended_at)
            SELECT 'B' || lpad(i::text, 25, '0'), %(env)s, %(fn)s, 1,
                CASE WHEN i %% 50 = 0 THEN 'failed' WHEN i %% 97 = 0 THEN 'cancelled'
                     ELSE 'completed' END,
                %(event)s, jsonb_build_object('n', i), 2, false, '', 0, '[]', '', 1,
                now() - make_interval(secs => i), now() - make_interval(secs => i),
                now() - make_interval(secs => i) + interval '500 milliseconds'
            FROM generate_series(1, %(runs)s) AS i
            """,
            {"env": environment_id, "fn": function_id, "event": event_id, "runs": RUNS},
        )
        conn.commit()
        conn.execute("ANALYZE runs_run")


def _list_pages(url: str, database: str, cookie: str) -> dict:
    with psycopg.connect(database) as conn:
        function = conn.execute(
            "SELECT public_id FROM registry_function WHERE slug = 'bench-live'"
        ).fetchone()[0]
    deep = "B" + str(RUNS // 2).rjust(25, "0")
    pages = {
        "first_page": "",
        "failed": "?status=failed",
        "failed_of_function": f"?status=failed&function={function}",
        "deep_page": f"?after={deep}",
    }
    results = {}
    with httpx.Client(base_url=url, headers={"Cookie": cookie}, timeout=30) as client:
        for name, query in pages.items():
            path = f"/{ORG}/{ENV}/runs/{query}"
            results[f"L1_{name}"] = _timed(lambda path=path: client.get(path).raise_for_status())
    return results


def _list_query(database: str, env: dict):
    """The first page's query, on a connection of its own like a request's (no pool)."""
    query = """
        SELECT r.*, f.*, e.* FROM runs_run r
        JOIN registry_function f ON f.id = r.function_id
        JOIN events_event e ON e.id = r.event_id
        WHERE r.environment_id = %s ORDER BY r.queued_at DESC, r.id DESC LIMIT 51
    """
    with psycopg.connect(database) as conn:
        conn.execute(query, [env["environment_id"]]).fetchall()


def _timed(call) -> dict:
    """`call()` REQUESTS times, one after another: p50/p95/p99 in ms."""
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "rows": RUNS,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": _pct(times, 0.95),
        "p99_ms": _pct(times, 0.99),
    }
