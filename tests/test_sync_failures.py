"""Every way a sync fails is shown in plain words and leaves the previous function set intact.

(An unknown trigger kind cannot be declared with either SDK, which drop or refuse it; it is
covered at /fn/register in tests/test_register.py.)
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from controlplane.keys.signatures import sign_response
from controlplane.registry.models import App, AppSync, Function, FunctionTrigger
from controlplane.registry.services import app_sync_from_url
from controlplane.tenancy.services import environment_set_dev_mode
from tests.live import free_port
from tests.registrations import function, python_body
from tests.sync_fixtures import OTHER_KEY, install_signing_key

pytestmark = pytest.mark.django_db(transaction=True)
KEY = "signkey-prod-" + "5a" * 32


@pytest.fixture
def synced(apps, world):
    """prod_a with the Python cloud app synced: the function set a failure must not touch."""
    install_signing_key(world.prod_a, KEY)
    app = apps.get("python", "cloud")
    assert app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner).succeeded
    return app


def snapshot():
    functions = Function.objects.order_by("slug").values_list("slug", "config", "version")
    triggers = FunctionTrigger.objects.order_by("pk").values_list("pk", "periodic_task_id")
    return list(functions), list(triggers)


def failed_sync(environment, url, actor, message):
    before = snapshot()
    result = app_sync_from_url(environment=environment, url=url, actor=actor)
    assert result.status == "failed"
    assert message in result.error, result.error
    assert snapshot() == before
    assert AppSync.objects.filter(status="success").count() == 1
    return result


def root_of(app):
    return app.url.removesuffix("/api/inngest") + "/"


def test_an_unresolvable_host_is_unreachable(synced, world):
    url = "http://no-such-host.invalid/api/inngest"
    result = failed_sync(world.prod_a, url, world.owner, "The app is unreachable at")
    assert result.app is None  # not an app we know: an unattached failed sync


def test_a_closed_port_refuses_the_connection(synced, world):
    url = f"http://127.0.0.1:{free_port()}/api/inngest"
    failed_sync(world.prod_a, url, world.owner, "The app refused the connection")


def test_an_app_that_never_answers_times_out(synced, world, silent_port, settings):
    settings.APP_SYNC_TIMEOUT_SECONDS = 0.5
    url = f"http://127.0.0.1:{silent_port}/api/inngest"
    failed_sync(world.prod_a, url, world.owner, "did not answer within 0.5 seconds")


def test_an_html_page_is_not_an_sdk(synced, world):
    # Flask answers its root with an HTML 404 page.
    message = "not an Inngest SDK endpoint: it answered HTTP 404 with an HTML page"
    failed_sync(world.prod_a, root_of(synced), world.owner, message)


def test_a_non_json_answer_is_not_an_sdk(apps, synced, world):
    plain = root_of(apps.get("ts", "cloud"))  # node's root answers "ok" as text/plain
    message = "not an Inngest SDK endpoint: it answered HTTP 200 with a non-JSON answer"
    failed_sync(world.prod_a, plain, world.owner, message)


def test_an_app_with_another_signing_key_is_refused_in_words(apps, synced, world):
    other = apps.get("python", "cloud", key=OTHER_KEY)
    failed_sync(world.prod_a, other.url, world.owner, "The app has a different signing key")


def test_a_key_mismatch_on_resync_is_recorded_in_the_apps_history(apps, synced, world):
    install_signing_key(world.prod_a, OTHER_KEY)  # the environment's key changed, the app's not
    result = failed_sync(world.prod_a, synced.url, world.owner, "different signing key")
    assert result.app.app_id == "py-cloud"


def test_a_dev_mode_app_cannot_sync_into_a_signed_environment(apps, synced, world):
    message = "The app runs in dev mode (INNGEST_DEV=1)"
    for sdk in ("python", "ts"):
        failed_sync(world.prod_a, apps.get(sdk, "dev").url, world.owner, message)


def test_a_cloud_app_cannot_sync_into_the_dev_mode_environment(synced, world):
    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    failed_sync(world.dev_a, synced.url, world.owner, "The app runs in cloud mode")


@pytest.mark.parametrize(
    ("sdk", "variant", "message"),
    [
        ("python", "bad-cron", "Function py-cloud-nightly: trigger 1 cron '61 3 * * *'"),
        ("python", "bad-cel", "Function py-cloud-flow: trigger 1 expression 'event.data.ok =='"),
        ("ts", "bad-cron", "Function ts-cloud-nightly: trigger 1 cron '61 3 * * *'"),
        ("ts", "bad-cel", "Function ts-cloud-flow: trigger 1 expression 'event.data.ok =='"),
        ("python", "bad-wildcard", "Function py-cloud-hello: trigger 1 event 'test/*/hello'"),
        ("ts", "bad-wildcard", "Function ts-cloud-hello: trigger 1 event 'test/*/hello'"),
    ],
)
def test_an_invalid_config_names_the_function_and_field(apps, synced, world, sdk, variant, message):
    bad = apps.get(sdk, "cloud", APP_VARIANT=variant)
    result = failed_sync(world.prod_a, bad.url, world.owner, message)
    assert result.kind == "in_band"
    apps.stop(bad)


@pytest.mark.parametrize("sdk", ["python", "ts"])
def test_an_invalid_config_registered_out_of_band_reaches_the_sdk(apps, synced, world, sdk):
    """The SDKs relay our answer to whoever sent the PUT; TS also takes its status from it."""
    import httpx

    environment_set_dev_mode(environment=world.dev_a, actor=world.owner)
    bad = apps.get(sdk, "dev", APP_VARIANT="bad-cron")
    response = httpx.put(bad.url, timeout=15)
    said = response.json().get("error") or response.json().get("message")
    assert "trigger 1 cron '61 3 * * *'" in said
    assert response.status_code == {"python": 200, "ts": 400}[sdk]  # Python relays with 200
    assert AppSync.objects.get(environment=world.dev_a).status == "failed"
    assert not Function.objects.filter(environment=world.dev_a).exists()
    apps.stop(bad)


@pytest.fixture
def forged_app():
    """An app answering in-band with a registration signed by the wrong key, as a tampering
    proxy would: the real SDKs always sign with the key that verified the request."""
    body = json.dumps(python_body("forged", [function("forged", "hello")])).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer({}, json.dumps({"mode": "cloud", "function_count": 1}).encode())

        def do_PUT(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            signature = sign_response(body, OTHER_KEY)
            self._answer({"X-Inngest-Sync-Kind": "in_band", "X-Inngest-Signature": signature}, body)

        def _answer(self, headers, content):
            self.send_response(200)
            for name, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/api/inngest"
    server.shutdown()


def test_an_in_band_answer_must_carry_the_environments_signature(synced, world, forged_app):
    failed_sync(world.prod_a, forged_app, world.owner, "The app has a different signing key")
    assert not App.objects.filter(app_id="forged").exists()
