"""Functions that declare flow control, served with the official Python SDK. Steps record what
they observe (calls in flight, start times, the events they got) as JSON lines under
APP_STATE_DIR, so tests check the limits from the app's side."""

import datetime
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path

import flask
import inngest
import inngest.flask

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "py-flow"), logger=None)
STATE = Path(os.environ.get("APP_STATE_DIR", "/tmp"))
_lock = threading.Lock()
_in_flight: Counter = Counter()


def record(name: str, **fields) -> None:
    with _lock, open(STATE / f"{name}.jsonl", "a") as log:
        log.write(json.dumps({"at": time.time(), **fields}) + "\n")


def held(name: str, seconds: float):
    """A step body that holds a slot for `seconds`, recording how many were in flight at once."""

    def body() -> str:
        with _lock:
            _in_flight[name] += 1
            now = _in_flight[name]
        record(name, in_flight=now)
        time.sleep(seconds)
        with _lock:
            _in_flight[name] -= 1
        return "done"

    return body


def fn(fn_id: str, event: str, **options):
    return client.create_function(fn_id=fn_id, trigger=inngest.TriggerEvent(event=event), **options)


@fn("limited", "flow/limited", concurrency=[inngest.Concurrency(limit=3)])
def limited(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("hold", held("limited", 0.4))


@fn("keyed", "flow/keyed", concurrency=[inngest.Concurrency(limit=2, key="event.data.k")])
def keyed(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("hold", held(f"keyed-{ctx.event.data['k']}", 0.5))


SHARED = [inngest.Concurrency(limit=2, key='"shared"', scope="env")]


@fn("shared-a", "flow/shared-a", concurrency=SHARED)
def shared_a(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("hold", held("shared", 0.4))


@fn("shared-b", "flow/shared-b", concurrency=SHARED)
def shared_b(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("hold", held("shared", 0.4))


@fn(
    "throttled",
    "flow/throttled",
    throttle=inngest.Throttle(limit=2, period=datetime.timedelta(seconds=2)),
)
def throttled(ctx: inngest.ContextSync) -> None:
    record("throttled", n=ctx.event.data["n"])


@fn(
    "rated",
    "flow/rated",
    rate_limit=inngest.RateLimit(limit=2, period=datetime.timedelta(minutes=1)),
)
def rated(ctx: inngest.ContextSync) -> int:
    return ctx.event.data["n"]


@fn(
    "debounced",
    "flow/debounced",
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=1), key="event.data.k"),
)
def debounced(ctx: inngest.ContextSync) -> int:
    return ctx.event.data["n"]


@fn(
    "capped",
    "flow/capped",
    debounce=inngest.Debounce(
        period=datetime.timedelta(seconds=1), timeout=datetime.timedelta(seconds=2)
    ),
)
def capped(ctx: inngest.ContextSync) -> int:
    return ctx.event.data["n"]


@fn(
    "batched",
    "flow/batched",
    batch_events=inngest.Batch(max_size=10, timeout=datetime.timedelta(seconds=2)),
)
def batched(ctx: inngest.ContextSync) -> list:
    return [event.data["n"] for event in ctx.events]


@fn(
    "prioritized",
    "flow/prioritized",
    concurrency=[inngest.Concurrency(limit=1)],
    priority=inngest.Priority(run="event.data.prio"),
)
def prioritized(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("hold", held(f"prioritized-{ctx.event.data['n']}", 0.2))


@fn("idempotent", "flow/idempotent", idempotency="event.data.user")
def idempotent(ctx: inngest.ContextSync) -> str:
    return ctx.event.data["user"]


@fn("single-skip", "flow/single-skip", singleton=inngest.Singleton(key="event.data.k", mode="skip"))
def single_skip(ctx: inngest.ContextSync) -> int:
    ctx.step.sleep("wait", datetime.timedelta(seconds=2))
    return ctx.event.data["n"]


@fn(
    "single-cancel",
    "flow/single-cancel",
    singleton=inngest.Singleton(key="event.data.k", mode="cancel"),
)
def single_cancel(ctx: inngest.ContextSync) -> int:
    ctx.step.sleep("wait", datetime.timedelta(seconds=2))
    return ctx.event.data["n"]


@fn("busy", "flow/busy")
def busy(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("work", lambda: time.sleep(0.1) or "done")


@fn("plain", "flow/plain")
def plain(ctx: inngest.ContextSync) -> int:
    return ctx.event.data.get("n", 0)


app = flask.Flask(__name__)
inngest.flask.serve(
    app,
    client,
    [
        limited,
        keyed,
        shared_a,
        shared_b,
        throttled,
        rated,
        debounced,
        capped,
        batched,
        prioritized,
        idempotent,
        single_skip,
        single_cancel,
        busy,
        plain,
    ],
)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
