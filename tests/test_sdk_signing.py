"""The signing helper against a real app built with the official Python SDK, in cloud mode."""

import httpx
import pytest

from controlplane.keys.signatures import bearer_hash, sign_request, verify_response
from tests.sdk_apps.processes import python_app

KEY = "signkey-prod-" + "12" * 32
NEW_KEY = "signkey-prod-" + "34" * 32


@pytest.fixture(scope="module")
def rotating_app():
    """An app mid-rotation: the new key as primary, the old one as fallback."""
    app = python_app(
        {
            "INNGEST_DEV": "0",
            "INNGEST_SIGNING_KEY": NEW_KEY,
            "INNGEST_SIGNING_KEY_FALLBACK": KEY,
            "INNGEST_BASE_URL": "http://127.0.0.1:9",
            "APP_ID": "signing-app",
        }
    ).start()
    yield app
    app.stop()


def signed_get(app, key):
    return httpx.get(app.url, headers={"X-Inngest-Signature": sign_request(b"", key)})


def test_the_sdk_refuses_unsigned_and_wrongly_signed_requests(rotating_app):
    assert httpx.get(rotating_app.url).status_code == 401
    assert signed_get(rotating_app, "signkey-prod-" + "ff" * 32).status_code == 401
    tampered = sign_request(b"", NEW_KEY).replace("&s=", "&s=0")
    assert httpx.get(rotating_app.url, headers={"X-Inngest-Signature": tampered}).status_code == 401


@pytest.mark.parametrize("key", [NEW_KEY, KEY])
def test_the_sdk_accepts_our_signature_and_signs_its_answer_with_the_same_key(rotating_app, key):
    response = signed_get(rotating_app, key)
    assert response.status_code == 200
    body = response.json()
    assert body["authentication_succeeded"] is True
    assert body["signing_key_hash"] == bearer_hash(NEW_KEY)
    assert body["signing_key_fallback_hash"] == bearer_hash(KEY)
    signature = response.headers["X-Inngest-Signature"]
    assert verify_response(signature, response.content, [key])
    other = KEY if key == NEW_KEY else NEW_KEY
    assert not verify_response(signature, response.content, [other])


def test_the_trust_probe_answers_with_a_verifiable_signature(rotating_app):
    body = {}
    response = httpx.post(
        rotating_app.url,
        params={"probe": "trust"},
        json=body,
        headers={
            "X-Inngest-Signature": sign_request(body, NEW_KEY),
            "X-Inngest-Server-Kind": "cloud",
        },
    )
    assert response.status_code == 200
    assert verify_response(response.headers["X-Inngest-Signature"], response.content, [NEW_KEY])
