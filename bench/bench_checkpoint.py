"""Async checkpointing with the official TypeScript SDK (W5 for TS 4.x), ON next to OFF, each
next to a baseline measured in the same run.

The user's app is tests/sdk_apps/ts/bench_app.mjs (inngest 4.24 on Node, cloud mode): the same
10 no-op steps as two functions, `ten-checkpointed` (the SDK's default once the request carries
ctx.fn_id: it runs step after step inside one call and posts each to
/v1/checkpoint/{run}/async) and `ten-classic` (`checkpointing: false`: one call per step). The
server runs on PostgreSQL, first with the local executor, then with the Celery backend (Redis
broker `BENCH_BROKER_URL`, default database 7 here, so another checkout's `engine` bench, which
flushes database 12, is not flushed with it).

Baselines (B5): the app called directly, as the engine calls it, by as many concurrent callers
as the executor has workers, for the app's own cost of a 10-step run:
  B5_ts_off  `ten-classic`: eleven signed calls per run with the growing memo, as for Python
  B5_ts_on   `ten-checkpointed`: one signed call per run carrying ctx.fn_id / qi_id; the app
             runs the 10 steps and posts its 10 checkpoints to checkpoint_sink.mjs, a Node
             server that answers 200 at once. A sink is needed (the SDK retries a checkpoint
             nobody takes, then falls back to one call per step); a null one is the fair floor:
             the app pays for making and sending its checkpoints, nobody for storing them.
Workloads, for each backend: W5_ts_on / W5_ts_off, 10-step runs started by a burst of events:
runs/s, steps/s, step-to-step interval p50/p99 (a step's result stored -> the next one's, a
checkpoint or a call), queued-to-ended p50/p99, and SDK calls per run (1 and 11 when the SDK
does what it should).
Ratios: on/off (workloads and baselines), each workload/its baseline, celery/local.
"""

import json
import os

import httpx
import psycopg

from bench.bench_engine import _direct, _executor, _workload
from bench.server import bootstrap, database_create
from tests.sdk_apps.processes import SdkApp, ensure_ts_dependencies, ts_app

APP_ID = "bench-ts"
FUNCTIONS = {"on": "ts-ten-checkpointed", "off": "ts-ten-classic"}  # events bench/<name>
RUNS = 20  # per workload: four of them, a minute or so on a loaded 2-core machine
BASELINE_SECONDS = 4.0
BACKENDS = ("local", "celery")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7")
# What switches the SDK to async checkpointing; the sink takes any ids.
CHECKPOINT_CTX = {"fn_id": "00000000-0000-0000-0000-000000000000", "qi_id": "1"}


def run(report) -> None:
    database = database_create("cp_bench_checkpoint")
    env = bootstrap(database)
    ensure_ts_dependencies()
    sink = ts_app({}, "checkpoint_sink.mjs").start()
    app = _TsApp(env["signing_key"])
    try:
        app.start(f"http://127.0.0.1:{sink.port}")
        for mode in ("off", "on"):
            report.baselines[f"B5_ts_{mode}"] = _direct(
                app,
                _slug(mode),
                steps=10,
                event=f"bench/{FUNCTIONS[mode]}",
                ctx=CHECKPOINT_CTX,
                seconds=BASELINE_SECONDS,
            )
        for backend in BACKENDS:
            with _executor(backend, database, broker=BROKER) as executor:
                app.start(executor.url)
                app.sync()
                for mode in ("off", "on"):
                    calls_before = _calls(database, _slug(mode))
                    result = _workload(executor, env, database, FUNCTIONS[mode], RUNS, 10)
                    calls = _calls(database, _slug(mode)) - calls_before
                    result["calls_per_run"] = round(calls / RUNS, 1)
                    report.results[f"W5_ts_{mode}_{backend}"] = result
    finally:
        app.stop()
        sink.stop()
    _ratios(report)


def _ratios(report) -> None:
    results, baselines = report.results, report.baselines
    report.ratio(
        "B5_ts on/off", baselines["B5_ts_on"]["steps_per_s"], baselines["B5_ts_off"]["steps_per_s"]
    )
    for backend in BACKENDS:
        on, off = results[f"W5_ts_on_{backend}"], results[f"W5_ts_off_{backend}"]
        report.ratio(f"W5_ts_{backend} on/off", on["steps_per_s"], off["steps_per_s"])
        for mode, result in (("on", on), ("off", off)):
            report.ratio(
                f"W5_ts_{mode}_{backend}/B5_ts_{mode}",
                result["steps_per_s"],
                baselines[f"B5_ts_{mode}"]["steps_per_s"],
            )
    for mode in ("on", "off"):
        report.ratio(
            f"W5_ts_{mode} celery/local",
            results[f"W5_ts_{mode}_celery"]["steps_per_s"],
            results[f"W5_ts_{mode}_local"]["steps_per_s"],
        )


def _slug(mode: str) -> str:
    return f"{APP_ID}-{FUNCTIONS[mode].removeprefix('ts-')}"


class _TsApp:
    """bench_app.mjs, (re)started on one port pointed at whichever server; it syncs on PUT."""

    def __init__(self, signing_key: str):
        self.signing_key = signing_key
        self.port = 0
        self.process: SdkApp | None = None

    @property
    def url(self) -> str:
        return self.process.url

    def start(self, server_url: str) -> None:
        self.stop()
        env = {
            "APP_ID": APP_ID,
            "INNGEST_DEV": "0",
            "INNGEST_SIGNING_KEY": self.signing_key,
            "INNGEST_BASE_URL": server_url,
        }
        self.process = ts_app(env, "bench_app.mjs", port=self.port).start()
        self.port = self.process.port

    def sync(self) -> None:
        answer = httpx.put(self.url, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(
                f"the bench TS app did not sync: {answer.status_code} {answer.text[:300]}"
            )

    def stop(self) -> None:
        if self.process:
            self.process.stop()


def _calls(database: str, slug: str) -> int:
    """The engine's calls to the app for `slug` so far."""
    query = """
        SELECT count(*) FROM observability_sdkcall c
        JOIN registry_function f ON f.id = c.function_id WHERE f.slug = %s
    """
    with psycopg.connect(database) as conn:
        return conn.execute(query, [slug]).fetchone()[0]


if __name__ == "__main__":
    from bench.report import Report

    report = Report()
    run(report)
    print(json.dumps(report.as_dict(), indent=2))
