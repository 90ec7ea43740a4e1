"""Functions that exercise what today's Python SDK expects of a server beyond the classic
protocol: the ids it reads from the request, an opcode this server does not support (it must
fail its step, never loop), invoke errors and the failure event's error shape. Configured by
the SDK's environment variables plus APP_ID and PORT."""

import datetime
import os

import flask
import inngest
import inngest.flask
from inngest.experimental.ai import openai

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "py-conformance"), logger=None)


def fn(fn_id: str, event: str, **options):
    return client.create_function(fn_id=fn_id, trigger=inngest.TriggerEvent(event=event), **options)


def caught(work) -> dict:
    try:
        return {"ok": work()}
    except inngest.StepError as error:
        return {"name": error.name, "message": error.message}


@fn("ids", "pyc/ids")
def ids(ctx: inngest.ContextSync) -> dict:
    first = ctx.step.run("first", lambda: {"job_id": ctx.job_id, "request_id": ctx.request_id})
    return {"first": first, "final": {"job_id": ctx.job_id, "request_id": ctx.request_id}}


@fn("inference", "pyc/infer")
def inference(ctx: inngest.ContextSync) -> dict:
    # Nothing is listening on port 9: the server must refuse the op, not call it.
    adapter = openai.Adapter(auth_key="none", base_url="http://127.0.0.1:9/v1", model="gpt-x")
    body = {"messages": [{"role": "user", "content": "hi"}]}
    inferred = caught(lambda: ctx.step.ai.infer("ask", adapter=adapter, body=body))
    return {"inferred": inferred, "after": ctx.step.run("after", lambda: "still running")}


@fn("missing", "pyc/invoke-missing")
def missing(ctx: inngest.ContextSync) -> dict:
    return caught(lambda: ctx.step.invoke_by_id("call-ghost", function_id="no-such-function"))


@fn("slow-child", "pyc/slow-child")
def slow_child(ctx: inngest.ContextSync) -> str:
    ctx.step.sleep("dawdle", datetime.timedelta(minutes=1))
    return "too late"


@fn("impatient", "pyc/invoke-timeout")
def impatient(ctx: inngest.ContextSync) -> dict:
    return caught(
        lambda: ctx.step.invoke(
            "call-slow", function=slow_child, timeout=datetime.timedelta(seconds=1)
        )
    )


def _on_doomed_failure(ctx: inngest.ContextSync) -> dict:
    return {"raw": ctx.event.data["error"]}


@fn("doomed", "pyc/doomed", retries=0, on_failure=_on_doomed_failure)
def doomed(ctx: inngest.ContextSync) -> None:
    raise ValueError("doomed from the start")


app = flask.Flask(__name__)
inngest.flask.serve(app, client, [ids, inference, missing, slow_child, impatient, doomed])

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
