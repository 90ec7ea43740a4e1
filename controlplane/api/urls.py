"""Machine endpoints at the host root: the SDK endpoints (/e/, /fn/register, /v0/) and /v1/."""

urlpatterns: list = []
