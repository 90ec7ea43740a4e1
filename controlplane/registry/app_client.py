"""The server's HTTP calls to an app when it syncs it (PROTOCOL.md 2.1-2.5), with httpx.

Cloud environments sign every request with the active signing key and send
`X-Inngest-Server-Kind: cloud`; the dev-mode environment sends `dev` and does not sign.
Every way a sync can go wrong comes back as SyncFailure, worded for people.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from django.conf import settings

from controlplane.keys.selectors import active_signing_key, verification_signing_keys
from controlplane.keys.signatures import (
    bearer_hash,
    canonical_body,
    sign_request,
    verify_response,
)
from controlplane.tenancy.models import Environment

DIFFERENT_KEY = (
    "The app has a different signing key: set its INNGEST_SIGNING_KEY to this environment's "
    "signing key (see Keys)."
)
APP_IS_DEV = (
    "The app runs in dev mode (INNGEST_DEV=1) but this environment only accepts signed apps: "
    "give it INNGEST_DEV=0 and this environment's INNGEST_SIGNING_KEY, or sync it from the "
    "dev-mode environment."
)
APP_IS_CLOUD = (
    "The app runs in cloud mode (it has a signing key and requires signed requests) but this "
    "is the dev-mode environment, which does not sign: start the app with INNGEST_DEV=1, or "
    "sync it from the environment whose signing key it has."
)


class SyncFailure(Exception):
    """The app could not be synced; str() says why in plain words."""


@dataclass
class SyncAnswer:
    in_band: bool
    payload: dict  # in-band: the registration itself; out-of-band: the app's relay of ours


def _url_with_sync_id(url: str, sync_id: str) -> str:
    """`deployId` is how Inngest links a registration to the sync that asked for it: both SDKs
    forward it to /fn/register."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode({"deployId": sync_id})]))
    return urlunsplit(parts._replace(query=query))


def _headers(environment: Environment, body) -> dict:
    headers = {"X-Inngest-Server-Kind": "dev" if environment.is_dev_mode else "cloud"}
    if not environment.is_dev_mode:
        headers["X-Inngest-Signature"] = sign_request(body, active_signing_key(environment))
    return headers


def _send(method: str, url: str, **kwargs) -> httpx.Response:
    timeout = settings.APP_SYNC_TIMEOUT_SECONDS
    host = urlsplit(url).netloc
    try:
        return httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.ConnectTimeout:
        raise SyncFailure(
            f"The app is unreachable: {host} did not accept a connection within "
            f"{timeout:g} seconds."
        ) from None
    except httpx.TimeoutException:
        raise SyncFailure(
            f"The app timed out: {host} did not answer within {timeout:g} seconds."
        ) from None
    except httpx.ConnectError as exc:
        if "refused" in str(exc).lower():
            raise SyncFailure(
                f"The app refused the connection: nothing listens on {host}. "
                "Is the app running, on that port?"
            ) from None
        raise SyncFailure(f"The app is unreachable at {host}: {exc}.") from None
    except httpx.HTTPError as exc:
        raise SyncFailure(f"The app at {host} broke off the request: {exc}.") from None


def _json_object(response: httpx.Response) -> dict:
    kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
    try:
        body = json.loads(response.content)
    except ValueError:
        what = "an HTML page" if "html" in kind else f"a non-JSON answer ({kind})"
        raise SyncFailure(
            f"This URL is not an Inngest SDK endpoint: it answered HTTP {response.status_code} "
            f"with {what}. Use the URL where the app serves Inngest, like "
            "https://example.com/api/inngest."
        ) from None
    if not isinstance(body, dict):
        raise SyncFailure("This URL is not an Inngest SDK endpoint: its answer is not an object.")
    return body


def _same_key(environment: Environment, app_hash: str) -> bool:
    # The TS SDK shows only the first 12 hex characters of the hash.
    ours = [bearer_hash(key) for key in verification_signing_keys(environment)]
    return any(ours_hash.startswith(app_hash.lower()) for ours_hash in ours)


def app_introspect(*, environment: Environment, url: str) -> dict:
    """GET the app (signed in cloud environments) and check it can be synced from here."""
    response = _send("GET", url, headers=_headers(environment, b""))
    if response.status_code == 401:
        raise SyncFailure(APP_IS_CLOUD if environment.is_dev_mode else DIFFERENT_KEY)
    if response.status_code == 403:  # Python: a signed GET from the wrong server kind
        raise SyncFailure(APP_IS_CLOUD if environment.is_dev_mode else APP_IS_DEV)
    body = _json_object(response)
    if "mode" not in body or "function_count" not in body:
        raise SyncFailure(
            f"This URL is not an Inngest SDK endpoint: it answered HTTP {response.status_code} "
            "without the SDK's introspection fields."
        )
    if body["mode"] == "dev" and not environment.is_dev_mode:
        raise SyncFailure(APP_IS_DEV)
    if body["mode"] == "cloud" and environment.is_dev_mode:
        raise SyncFailure(APP_IS_CLOUD)
    app_hash = body.get("signing_key_hash")
    if isinstance(app_hash, str) and app_hash and not _same_key(environment, app_hash):
        raise SyncFailure(DIFFERENT_KEY)
    return body


def app_request_sync(*, environment: Environment, url: str, sync_id: str) -> SyncAnswer:
    """PUT the app asking for an in-band sync; the app answers in-band or registers itself."""
    body = {"url": url}
    headers = {
        **_headers(environment, body),
        "Content-Type": "application/json",
        "X-Inngest-Sync-Kind": "in_band",
    }
    response = _send(
        "PUT", _url_with_sync_id(url, sync_id), content=canonical_body(body), headers=headers
    )
    kind = response.headers.get("x-inngest-sync-kind", "")
    if response.status_code == 401:
        raise SyncFailure(APP_IS_CLOUD if environment.is_dev_mode else DIFFERENT_KEY)
    answer = _json_object(response)
    if kind == "in_band" and response.status_code == 200:
        if not environment.is_dev_mode and not verify_response(
            response.headers.get("x-inngest-signature"),
            response.content,
            verification_signing_keys(environment),
        ):
            raise SyncFailure(DIFFERENT_KEY)
        return SyncAnswer(in_band=True, payload=answer)
    if kind == "out_of_band":
        return SyncAnswer(in_band=False, payload=answer)
    if answer.get("code") == "server_kind_mismatch":
        raise SyncFailure(APP_IS_CLOUD if environment.is_dev_mode else APP_IS_DEV)
    said = answer.get("message") or answer.get("error") or "no explanation"
    raise SyncFailure(f"The app refused the sync (HTTP {response.status_code}): {said}")
