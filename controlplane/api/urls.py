"""Machine endpoints at the host root: the SDK endpoints (/e/, /fn/register, /v0/) and /v1/."""

from controlplane.api import v0, v1_runs

urlpatterns = [*v0.urlpatterns, *v1_runs.urlpatterns]
