"""The event log at a million events (issue 4: it must stay fast with millions of rows), next
to a baseline measured in the same run.

E1_*: the events page (first page; a name filter; a page deep in the keyset) in an environment
  with 1,000,000 events: p50/p95/p99 over bench_live.REQUESTS requests, signed in as a browser.
B7_log_query: the first page's query alone with psycopg, on a new connection each time as a
  request without DB_POOL_SIZE has. Ratio: E1 first page p95 / B7 p95.
"""

import httpx
import psycopg

from bench.bench_live import ENV, ORG, RUNS, _sign_in, _timed
from bench.server import Server, bootstrap, database_create, manage

NAMES = 20  # distinct event names, evenly spread


def run(report) -> None:
    database = database_create("cp_bench_eventlog")
    env = bootstrap(database)
    manage("collectstatic", "--noinput", "-v0", database=database)  # the pages link to it
    _fill_events(database, env["environment_id"])
    with Server(database, DB_POOL_SIZE="0") as server:  # as the baseline: unpooled
        url = f"http://{server.host}:{server.port}"
        cookie = _sign_in(url)
        deep = "E" + str(RUNS // 2).rjust(25, "0")
        pages = {"first_page": "", "by_name": "?name=bench%2Fe7", "deep_page": f"?after={deep}"}
        with httpx.Client(base_url=url, headers={"Cookie": cookie}, timeout=30) as client:
            for name, query in pages.items():
                path = f"/{ORG}/{ENV}/events/{query}"
                report.results[f"E1_{name}"] = _timed(
                    lambda path=path: client.get(path).raise_for_status()
                )
    report.baselines["B7_log_query"] = _timed(lambda: _log_query(database, env))
    report.ratio(
        "E1 first page p95/B7 p95",
        report.results["E1_first_page"]["p95_ms"],
        report.baselines["B7_log_query"]["p95_ms"],
    )


def _fill_events(database: str, environment_id: int) -> None:
    """RUNS events, one a second back from now (raw INSERT ... SELECT: the Event API's write
    path is measured by bench_events)."""
    with psycopg.connect(database) as conn:
        conn.execute(
            """
            INSERT INTO events_event (public_id, environment_id, name, data, external_id, ts,
                "user", version, meta, received_at, source)
            SELECT 'E' || lpad(i::text, 25, '0'), %(env)s, 'bench/e' || (i %% %(names)s),
                jsonb_build_object('n', i), '', 0, '{}', '', '{}', now() - make_interval(secs => i),
                'api'
            FROM generate_series(1, %(rows)s) AS i
            """,
            {"env": environment_id, "names": NAMES, "rows": RUNS},
        )
        conn.commit()
        conn.execute("ANALYZE events_event")


def _log_query(database: str, env: dict):
    """The first page's query, on a connection of its own like a request's (no pool)."""
    query = """
        SELECT e.*, k.* FROM events_event e LEFT JOIN keys_eventkey k ON k.id = e.event_key_id
        WHERE e.environment_id = %s ORDER BY e.received_at DESC, e.id DESC LIMIT 51
    """
    with psycopg.connect(database) as conn:
        conn.execute(query, [env["environment_id"]]).fetchall()
