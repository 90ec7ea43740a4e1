"""Bearer authentication for machine endpoints: the environment's signing key (as Inngest's REST
API takes it, or the hashed form the SDKs send)."""

from controlplane.keys.selectors import environment_for_bearer
from controlplane.tenancy.selectors import dev_mode_environment


def bearer_token(request) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else ""


def environment_from_bearer(request, *, allow_dev_mode: bool = False):
    """The environment the bearer token belongs to; with `allow_dev_mode`, SDKs in dev mode
    (no key: `Bearer undefined` or none) reach the server's dev-mode environment."""
    environment = environment_for_bearer(bearer_token(request))
    if environment is None and allow_dev_mode:
        environment = dev_mode_environment()
    return environment
