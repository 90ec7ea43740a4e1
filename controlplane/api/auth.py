"""Bearer authentication for machine endpoints.

The SDK endpoints take the environment's signing key (as Inngest's REST API does, plaintext or
the hashed form the SDKs send). The REST API (/v1) takes that too, or an API key created in the
dashboard: `authenticate_v1` is the one check every /v1 endpoint makes.
"""

from dataclasses import dataclass

from django.http import JsonResponse
from django.utils import timezone

from controlplane.api.responses import error_response
from controlplane.keys.models import ApiKey
from controlplane.keys.selectors import api_key_for_secret, environment_for_bearer
from controlplane.keys.services import API_KEY_PREFIX, key_touch
from controlplane.tenancy.models import Environment
from controlplane.tenancy.services import environment_ensure_dev_mode


def bearer_token(request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def environment_from_bearer(request, *, allow_dev_mode: bool = False):
    """The environment the bearer token belongs to; with `allow_dev_mode`, SDKs in dev mode
    (no key: `Bearer undefined` or none) reach the server's dev-mode environment."""
    environment = environment_for_bearer(bearer_token(request))
    if environment is None and allow_dev_mode:
        environment = environment_ensure_dev_mode()
    return environment


@dataclass(frozen=True)
class Principal:
    """Who is calling the REST API: the environment's signing key (full access) or an API key."""

    api_key: ApiKey | None = None

    @property
    def can_write(self) -> bool:
        return self.api_key is None or self.api_key.can_write

    @property
    def label(self) -> str:
        """For reasons and audit data: "signing key" or "API key “ci”"."""
        return f"API key “{self.api_key.name}”" if self.api_key else "signing key"


def authenticate_v1(request, *, write: bool) -> tuple[Environment, Principal] | JsonResponse:
    """Check a /v1 request's bearer: `(environment, principal)`, or the JSON error to answer.

    Accepts the environment's signing key (plaintext or hashed; active, next or fallback) with
    full access, or an API key of the environment: unknown, revoked or expired answers 401; a
    read-only key on a `write=True` request answers 403. Records the API key's last use.

        auth = authenticate_v1(request, write=request.method != "GET")
        if isinstance(auth, JsonResponse):
            return auth
        environment, principal = auth
    """
    token = bearer_token(request)
    if not token.startswith(API_KEY_PREFIX):
        environment = environment_for_bearer(token)
        if environment is None:
            return error_response(
                "Unauthorized: send an API key or the environment's signing key as "
                "`Authorization: Bearer ...`.",
                401,
            )
        return environment, Principal()
    api_key = api_key_for_secret(token)
    if api_key is None or api_key.revoked_at is not None:
        return error_response("Unauthorized: this API key does not exist or was revoked.", 401)
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return error_response(
            f"Unauthorized: this API key expired at {api_key.expires_at.isoformat()}.", 401
        )
    if write and not api_key.can_write:
        return error_response("Forbidden: this API key is read-only.", 403)
    key_touch(api_key)
    return api_key.environment, Principal(api_key=api_key)
