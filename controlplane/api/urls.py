"""Machine endpoints at the host root: the SDK endpoints (/e/, /fn/register, /v0/) and /v1/."""

from django.urls import path

from controlplane.api import register, v0, v1_runs

urlpatterns = [
    path("fn/register", register.register, name="fn-register"),
    *v0.urlpatterns,
    *v1_runs.urlpatterns,
]
