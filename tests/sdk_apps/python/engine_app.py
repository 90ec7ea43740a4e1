"""Functions that exercise every part of the execution protocol, served with the official
Python SDK. Configured like any app, by the SDK's environment variables (INNGEST_DEV,
INNGEST_SIGNING_KEY, INNGEST_BASE_URL, INNGEST_EVENT_KEY) plus APP_ID and PORT.

APP_SLOW_SECONDS makes `slow` hold its step that long (crash tests); APP_STATE_DIR is where
steps record that they ran, so tests can count executions from outside.
"""

import datetime
import os
import time
from pathlib import Path

import flask
import inngest
import inngest.flask

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "py-engine"), logger=None)
STATE = Path(os.environ.get("APP_STATE_DIR", "/tmp"))


def record(name: str) -> None:
    with open(STATE / f"{name}.log", "a") as log:
        log.write(f"{time.time()}\n")


def fn(fn_id: str, event: str, **options):
    return client.create_function(fn_id=fn_id, trigger=inngest.TriggerEvent(event=event), **options)


@fn("chain", "engine/chain")
def chain(ctx: inngest.ContextSync) -> dict:
    a = ctx.step.run("a", lambda: ctx.event.data["n"] + 1)
    b = ctx.step.run("b", lambda: a * 2)
    c = ctx.step.run("c", lambda: {"a": a, "b": b})
    return {"sum": c["a"] + c["b"], "run_id": ctx.run_id}


@fn("dupes", "engine/dupes")
def dupes(ctx: inngest.ContextSync) -> list:
    return [
        ctx.step.run("dup", lambda: 1),
        ctx.step.run("dup", lambda: 2),
        ctx.step.run("dup", lambda: 3),
    ]


@fn("nap", "engine/nap")
def nap(ctx: inngest.ContextSync) -> str:
    before = ctx.step.run("before", lambda: "awake")
    ctx.step.sleep("nap", datetime.timedelta(seconds=ctx.event.data.get("seconds", 1)))
    return ctx.step.run("after", lambda: f"{before} again")


@fn("nap-until", "engine/nap-until")
def nap_until(ctx: inngest.ContextSync) -> str:
    until = datetime.datetime.fromisoformat(ctx.event.data["until"])
    ctx.step.sleep_until("until", until)
    return "woke"


@fn("approval", "engine/approval")
def approval(ctx: inngest.ContextSync) -> dict:
    approved = ctx.step.wait_for_event(
        "approved",
        event="engine/approved",
        if_exp="event.data.order == async.data.order",
        timeout=datetime.timedelta(seconds=ctx.event.data.get("timeout", 30)),
    )
    return {"approved_by": approved.data["by"] if approved else None}


@fn("child", "engine/child-direct")
def child(ctx: inngest.ContextSync) -> int:
    if ctx.event.data.get("explode"):
        raise inngest.NonRetriableError("child exploded")
    return ctx.step.run("double", lambda: ctx.event.data["x"] * 2)


@fn("parent", "engine/parent")
def parent(ctx: inngest.ContextSync) -> dict:
    try:
        result = ctx.step.invoke("call-child", function=child, data=ctx.event.data)
    except inngest.StepError as error:
        return {"error": str(error)}
    return {"child": result}


@fn("sender", "engine/sender")
def sender(ctx: inngest.ContextSync) -> list:
    return ctx.step.send_event("send", [inngest.Event(name="engine/chain", data={"n": 10})])


@fn("fanout", "engine/fanout")
def fanout(ctx: inngest.ContextSync) -> list:
    mode = inngest.ParallelMode.RACE if ctx.event.data.get("race") else inngest.ParallelMode.WAIT
    results = ctx.group.parallel(
        tuple((lambda i=i: ctx.step.run(f"part-{i}", lambda: i * i)) for i in range(4)),
        parallel_mode=mode,
    )
    return list(results)


@fn("flaky", "engine/flaky", retries=3)
def flaky(ctx: inngest.ContextSync) -> dict:
    def attempt() -> int:
        record(f"flaky-{ctx.run_id}")
        if ctx.attempt < 2:
            raise ValueError(f"failing on attempt {ctx.attempt}")
        return ctx.attempt

    return {"succeeded_on": ctx.step.run("shaky", attempt)}


def _on_doomed_failure(ctx: inngest.ContextSync) -> None:
    record(f"doomed-failure-{ctx.event.data['run_id']}")


@fn("doomed", "engine/doomed", retries=1, on_failure=_on_doomed_failure)
def doomed(ctx: inngest.ContextSync) -> None:
    ctx.step.run("explode", lambda: 1 / 0)


@fn("hopeless", "engine/hopeless", retries=4)
def hopeless(ctx: inngest.ContextSync) -> None:
    record(f"hopeless-{ctx.run_id}")
    raise inngest.NonRetriableError("not worth retrying")


@fn("later", "engine/later", retries=2)
def later(ctx: inngest.ContextSync) -> int:
    record(f"later-{ctx.run_id}")
    if ctx.attempt == 0:
        raise inngest.RetryAfterError("come back later", retry_after=datetime.timedelta(seconds=2))
    return ctx.attempt


@fn(
    "cancellable",
    "engine/cancellable",
    cancel=[inngest.Cancel(event="engine/stop", if_exp="event.data.id == async.data.id")],
)
def cancellable(ctx: inngest.ContextSync) -> str:
    ctx.step.sleep("long-nap", datetime.timedelta(minutes=10))
    return "finished"


@fn("deadline", "engine/deadline", timeouts=inngest.Timeouts(finish=datetime.timedelta(seconds=2)))
def deadline(ctx: inngest.ContextSync) -> str:
    ctx.step.sleep("too-long", datetime.timedelta(minutes=10))
    return "finished"


@fn("big", "engine/big")
def big(ctx: inngest.ContextSync) -> int:
    blob = ctx.step.run("blob", lambda: "x" * ctx.event.data["size"])
    return len(blob)


def held_step(ctx: inngest.ContextSync, name: str) -> str:
    def hold() -> str:
        record(f"{name}-{ctx.run_id}")
        time.sleep(float(os.environ.get("APP_SLOW_SECONDS", "0")))
        return "held"

    return ctx.step.run("hold", hold)


@fn("slow", "engine/slow")
def slow(ctx: inngest.ContextSync) -> str:
    return held_step(ctx, "slow")


@fn("slow-one-at-a-time", "engine/slow-one", concurrency=[inngest.Concurrency(limit=1)])
def slow_one_at_a_time(ctx: inngest.ContextSync) -> str:
    return held_step(ctx, "slow-one")


@fn("wild", "wild/*")
def wild(ctx: inngest.ContextSync) -> str:
    return ctx.step.run("name", lambda: ctx.event.name)


@fn(
    "big-batch",
    "engine/big-batch",
    batch_events=inngest.Batch(max_size=8, timeout=datetime.timedelta(seconds=30)),
)
def big_batch(ctx: inngest.ContextSync) -> list:
    """Too large for the request: the SDK fetches the batch from /v0/runs/{id}/batch."""
    return [len(event.data["blob"]) for event in ctx.events]


@client.create_function(fn_id="minutely", trigger=inngest.TriggerCron(cron="* * * * *"))
def minutely(ctx: inngest.ContextSync) -> dict:
    return {"cron": ctx.event.data["cron"]}


app = flask.Flask(__name__)
inngest.flask.serve(
    app,
    client,
    [
        chain,
        dupes,
        nap,
        nap_until,
        approval,
        child,
        parent,
        sender,
        fanout,
        flaky,
        doomed,
        hopeless,
        later,
        cancellable,
        deadline,
        big,
        big_batch,
        slow,
        slow_one_at_a_time,
        wild,
        minutely,
    ],
)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
