"""No secret in plaintext in the database or the server's logs, after the flows that handle
them: event keys (the Event API, an SDK sending from a step), signing keys (active and next,
their bearer form, signed calls and syncs), API keys (REST calls), a person with TOTP."""

import io
import shutil
import subprocess
import time

import httpx
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from controlplane.accounts.services import totp_enrollment_confirm, totp_enrollment_start
from controlplane.keys.models import ApiAccess
from controlplane.keys.selectors import active_signing_key
from controlplane.keys.services import api_key_create, event_key_create, signing_key_create_next
from controlplane.keys.signatures import bearer_hash
from controlplane.registry.services import app_sync_from_url
from controlplane.runs.models import Run, RunStatus
from tests.conftest import PASSWORD
from tests.engine.conftest import ENGINE_ENV
from tests.engine.harness import ServerProcess, database_url
from tests.otp import code_for_device
from tests.sdk_apps.processes import python_app

pytestmark = pytest.mark.django_db(transaction=True)


def secrets_of(environment, owner) -> dict[str, str]:
    _key, event_key = event_key_create(environment=environment, actor=owner, name="app")
    _key, api_key = api_key_create(
        environment=environment, actor=owner, name="ci", access=ApiAccess.READ_WRITE
    )
    signing_key = active_signing_key(environment)
    _key, next_signing_key = signing_key_create_next(environment=environment, actor=owner)
    return {
        "event key": event_key,
        "API key": api_key,
        "signing key": signing_key,
        "signing bearer": bearer_hash(signing_key),
        "next signing key": next_signing_key,
        "next signing bearer": bearer_hash(next_signing_key),
    }


def sign_in_with_totp(user) -> list[str]:
    """Enroll a TOTP device, sign in with it (a session row); the backup codes."""
    device = totp_enrollment_start(user=user)
    codes = totp_enrollment_confirm(user=user, device=device, token=code_for_device(device))
    client = Client()
    client.post("/account/login/", {"email": user.email, "password": PASSWORD})
    code = code_for_device(device, steps_ahead=1)  # the enrollment used this window's
    assert client.post("/account/login/verify/", {"code": code}).status_code == 302
    return codes


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def database_dumps() -> dict[str, str]:
    out = io.StringIO()
    call_command("dumpdata", stdout=out)  # what `manage.py dumpdata` writes
    dumps = {"dumpdata": out.getvalue()}
    if connection.vendor == "postgresql" and shutil.which("pg_dump"):
        dumps["pg_dump"] = subprocess.run(
            ["pg_dump", "--no-owner", database_url()], capture_output=True, text=True, check=True
        ).stdout
    return dumps


def test_no_secret_is_stored_or_logged_in_plaintext(world, tmp_path):
    secrets = secrets_of(world.prod_a, world.owner)
    backup_codes = sign_in_with_totp(world.owner)
    output = tmp_path / "server.log"
    server = ServerProcess({**ENGINE_ENV, "LOG_LEVEL": "INFO"}, output=output).start()
    app_env = {
        "INNGEST_DEV": "0",
        "INNGEST_SIGNING_KEY": secrets["signing key"],
        "INNGEST_EVENT_KEY": secrets["event key"],
        "INNGEST_BASE_URL": server.url,
        "APP_ID": "py-secrets",
        "APP_STATE_DIR": str(tmp_path),
    }
    app = python_app(app_env, script="engine_app.py").start()
    try:
        sync = app_sync_from_url(environment=world.prod_a, url=app.url, actor=world.owner)
        assert sync.status == "success", sync.error
        events = [{"name": "engine/chain", "data": {"n": 1}}, {"name": "engine/sender"}]
        sent = httpx.post(f"{server.url}/e/{secrets['event key']}", json=events, timeout=10)
        assert sent.status_code == 200, sent.text
        # The sender's step sends one more chain event with the SDK's event key.
        finished = Run.objects.filter(status=RunStatus.COMPLETED)
        wait_for(lambda: finished.filter(function__slug="py-secrets-chain").count() == 2)
        wait_for(lambda: finished.filter(function__slug="py-secrets-sender").exists())
        run = finished.first()
        bearer = {"Authorization": f"Bearer {secrets['API key']}"}
        assert httpx.get(f"{server.url}/v1/runs/{run.public_id}", headers=bearer).is_success
    finally:
        app.stop()
        server.stop()

    for name, dump in database_dumps().items():
        for what, secret in secrets.items():
            assert secret not in dump, f"{what} in plaintext in {name}"
    printed = output.read_text()
    for what, secret in {**secrets, **{f"backup code {c}": c for c in backup_codes}}.items():
        assert secret not in printed, f"{what} in the server's output"
