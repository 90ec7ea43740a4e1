"""Real SDK apps for sync tests, started once per module and pointed at the live server.

The tenant world is rebuilt for every test, so cloud-mode apps are started with fixed signing
keys and each test installs its key into the environment it syncs from.
"""

import hashlib
import socket

import pytest

from controlplane.keys import crypto
from controlplane.keys.models import SigningKeyState
from controlplane.keys.signatures import bearer_hash
from tests.sdk_apps.processes import SdkApp, python_app, ts_app

KEY = "signkey-prod-" + "5a" * 32
OTHER_KEY = "signkey-prod-" + "6b" * 32
STARTERS = {"python": python_app, "ts": ts_app}
# The functions each test app declares in variant 1 (TS registers onFailure as its own function).
SLUGS = {
    "python": {"hello", "nightly", "flow", "retired"},
    "ts": {"hello", "nightly", "flow", "flow-failure", "retired"},
}


def install_signing_key(environment, key: str) -> None:
    """Make `key` the environment's active signing key (the one the test app was started with)."""
    environment.signing_keys.filter(state=SigningKeyState.ACTIVE).update(
        encrypted_key=crypto.encrypt(key),
        display_prefix=key[:20],
        bearer_lookup=hashlib.sha256(bearer_hash(key).encode()).hexdigest(),
    )


def app_env(*, app_id: str, base_url: str, mode: str, key: str, **extra) -> dict[str, str]:
    env = {"APP_ID": app_id, "INNGEST_BASE_URL": base_url, **extra}
    if mode == "dev":
        return {**env, "INNGEST_DEV": "1"}
    return {**env, "INNGEST_DEV": "0", "INNGEST_SIGNING_KEY": key}


class AppPool:
    """Starts each distinct app once; stops them all at the end of the module."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self._apps: dict[tuple, SdkApp] = {}

    def get(self, sdk: str, mode: str, *, key: str = KEY, port: int = 0, **env) -> SdkApp:
        """`env`: extra variables, e.g. APP_VARIANT; the app id is "<sdk>-<mode>"."""
        identity = (sdk, mode, key, port, tuple(sorted(env.items())))
        if identity not in self._apps:
            variables = app_env(
                app_id=f"{sdk[:2]}-{mode}", base_url=self.base_url, mode=mode, key=key, **env
            )
            self._apps[identity] = STARTERS[sdk](variables, port=port).start()
        return self._apps[identity]

    def stop(self, app: SdkApp) -> None:
        app.stop()
        self._apps = {k: v for k, v in self._apps.items() if v is not app}

    def stop_all(self) -> None:
        for app in self._apps.values():
            app.stop()


@pytest.fixture(scope="module")
def apps(live_server_url):
    pool = AppPool(live_server_url)
    yield pool
    pool.stop_all()


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (a hung app)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
