"""The user's app for engine benchmarks: the official Python SDK on Flask, no-op steps.
Configured by the SDK's environment variables plus PORT."""

import datetime
import os
import time

import flask
import inngest
import inngest.flask

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "bench"), logger=None)


@client.create_function(fn_id="one", trigger=inngest.TriggerEvent(event="bench/one"))
def one(ctx: inngest.ContextSync) -> int:
    return ctx.step.run("only", lambda: 1)


@client.create_function(fn_id="ten", trigger=inngest.TriggerEvent(event="bench/ten"))
def ten(ctx: inngest.ContextSync) -> int:
    total = 0
    for n in range(10):
        total += ctx.step.run(f"step-{n}", lambda n=n: n)
    return total


@client.create_function(
    fn_id="keyed",
    trigger=inngest.TriggerEvent(event="bench/keyed"),
    concurrency=[inngest.Concurrency(limit=5, key="event.data.k")],
)
def keyed(ctx: inngest.ContextSync) -> int:
    return ctx.step.run("only", lambda: 1)


@client.create_function(fn_id="live", trigger=inngest.TriggerEvent(event="bench/live"))
def live(ctx: inngest.ContextSync) -> int:
    """Watched by websocket clients: a pause for them to connect, then 20 spaced steps."""
    ctx.step.sleep("watchers-connect", datetime.timedelta(seconds=3))
    total = 0
    for n in range(20):
        total += ctx.step.run(f"step-{n}", lambda n=n: time.sleep(0.1) or n)
    return total


app = flask.Flask(__name__)
inngest.flask.serve(app, client, [one, ten, keyed, live])

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
