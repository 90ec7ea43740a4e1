"""The fault-injection suite's app (tests/chaos/), served with the official Python SDK and
configured like any app (INNGEST_*, APP_ID, PORT).

Every step appends a line to the ledger (APP_LEDGER, JSON lines: run, step, attempt, time)
before it returns, so a test counts how often each step ran and compares that with what the
server stored: a step may run more than once (calls are at-least-once), its result is stored
once.
"""

import datetime
import json
import os
import threading
import time

import flask
import inngest
import inngest.flask

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "chaos"), logger=None)
LEDGER = os.environ["APP_LEDGER"]
_ledger_lock = threading.Lock()


def record(ctx: inngest.ContextSync, step: str) -> None:
    line = json.dumps({"run": ctx.run_id, "step": step, "attempt": ctx.attempt, "t": time.time()})
    with _ledger_lock, open(LEDGER, "a") as ledger:
        ledger.write(line + "\n")


def ledgered(ctx: inngest.ContextSync, step: str, hold: float = 0):
    """A step that records that it ran, holds `hold` seconds (in flight for a fault to hit),
    and returns its name."""

    def body() -> str:
        record(ctx, step)
        time.sleep(hold)
        return step

    return ctx.step.run(step, body)


@client.create_function(fn_id="steps", trigger=inngest.TriggerEvent(event="chaos/steps"))
def steps(ctx: inngest.ContextSync) -> list:
    """`data.steps` steps (3) of `data.hold` seconds each (0)."""
    count, hold = ctx.event.data.get("steps", 3), ctx.event.data.get("hold", 0)
    return [ledgered(ctx, f"step-{i}", hold) for i in range(count)]


@client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="chaos/nap"))
def nap(ctx: inngest.ContextSync) -> str:
    ledgered(ctx, "before")
    ctx.step.sleep("nap", datetime.timedelta(seconds=ctx.event.data["seconds"]))
    return ledgered(ctx, "after")


@client.create_function(fn_id="minutely", trigger=inngest.TriggerCron(cron="* * * * *"))
def minutely(ctx: inngest.ContextSync) -> str:
    return ledgered(ctx, "tick")


app = flask.Flask(__name__)
inngest.flask.serve(app, client, [steps, nap, minutely])

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
