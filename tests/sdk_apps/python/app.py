"""A real app built with the official Python SDK (PyPI `inngest`), served by Flask.

Configured like any user's app, through the SDK's own environment variables
(INNGEST_DEV, INNGEST_SIGNING_KEY, INNGEST_SIGNING_KEY_FALLBACK, INNGEST_BASE_URL,
INNGEST_EVENT_KEY), plus APP_ID, PORT and APP_VARIANT (which set of functions to serve:
"1"; "2" after a code change; "bad-cron", "bad-cel" and "bad-wildcard" declare an invalid
cron / CEL expression / wildcard event).
"""

import os

import flask
import inngest
import inngest.flask

client = inngest.Inngest(app_id=os.environ.get("APP_ID", "py-app"), logger=None)
VARIANT = os.environ.get("APP_VARIANT", "1")


@client.create_function(
    fn_id="hello",
    name="Hello",
    trigger=inngest.TriggerEvent(
        event="test/*/hello" if VARIANT == "bad-wildcard" else "test/hello"
    ),
)
def hello(ctx: inngest.Context) -> dict:
    greeting = ctx.step.run("greet", lambda: f"hello {ctx.event.data.get('name', 'world')}")
    return {"greeting": greeting}


@client.create_function(
    fn_id="nightly",
    name="Nightly report",
    trigger=inngest.TriggerCron(
        cron={"2": "TZ=Europe/Paris 0 4 * * *", "bad-cron": "61 3 * * *"}.get(
            VARIANT, "TZ=Europe/Paris 0 3 * * *"
        )
    ),
    retries=2,
)
def nightly(ctx: inngest.Context) -> str:
    return "done"


@client.create_function(
    fn_id="flow",
    name="Flow",
    trigger=inngest.TriggerEvent(
        event="test/flow",
        expression="event.data.ok ==" if VARIANT == "bad-cel" else "event.data.ok == true",
    ),
    concurrency=[inngest.Concurrency(limit=5 if VARIANT == "1" else 2, key="event.data.user")],
)
def flow(ctx: inngest.Context) -> int:
    return 1


def _retired(ctx: inngest.Context) -> None:
    return None


FUNCTIONS = [hello, nightly, flow]
if VARIANT == "1":
    FUNCTIONS.append(
        client.create_function(fn_id="retired", trigger=inngest.TriggerEvent(event="test/retired"))(
            _retired
        )
    )

app = flask.Flask(__name__)
inngest.flask.serve(app, client, FUNCTIONS)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), threaded=True)
