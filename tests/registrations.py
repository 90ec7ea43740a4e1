"""Registration bodies in the shapes the two SDKs send (PROTOCOL.md 2.3), for endpoint tests
that need a payload the real SDKs cannot produce (e.g. a trigger kind from a future SDK)."""

APP_URL = "http://127.0.0.1:3000/api/inngest"


def function(app_id: str, fn_id: str, *, triggers=None, retries=None, **extra) -> dict:
    slug = f"{app_id}-{fn_id}"
    step = {
        "id": "step",
        "name": "step",
        "runtime": {"type": "http", "url": f"{APP_URL}?fnId={slug}&stepId=step"},
    }
    if retries is not None:
        step["retries"] = {"attempts": retries}
    return {
        "id": slug,
        "name": fn_id.title(),
        "triggers": triggers if triggers is not None else [{"event": f"test/{fn_id}"}],
        "steps": {"step": step},
        **extra,
    }


def python_body(app_id: str, functions: list[dict]) -> dict:
    return {
        "appname": app_id,
        "deploy_type": "ping",
        "framework": "flask",
        "sdk": "py:v0.5.19",
        "url": APP_URL,
        "v": "0.1",
        "capabilities": {"in_band_sync": "v1", "trust_probe": "v1", "connect": "v1"},
        "functions": functions,
    }


def ts_body(app_id: str, functions: list[dict], *, deploy_id: str | None = None) -> dict:
    body = {
        "appName": app_id,
        "deployType": "ping",
        "framework": "nodejs",
        "sdk": "js:v4.24.0",
        "url": APP_URL,
        "v": "0.1",
        "functions": functions,
    }
    if deploy_id:
        body["deployId"] = deploy_id
        body["url"] = f"{APP_URL}?deployId={deploy_id}"
        for config in functions:
            runtime = config["steps"]["step"]["runtime"]
            runtime["url"] = runtime["url"].replace("?", f"?deployId={deploy_id}&")
    return body
