"""Machine endpoints at the host root: the SDK endpoints (/e/, /fn/register, /v0/) and /v1/."""

from django.urls import path

from controlplane.api import (
    checkpoint,
    events,
    register,
    run_metadata,
    v0,
    v1_bulk,
    v1_events,
    v1_functions,
    v1_openapi,
    v1_runs,
)

urlpatterns = [
    path("e/<str:event_key>", events.event_api, name="event-api"),
    path("fn/register", register.register, name="fn-register"),
    *v0.urlpatterns,
    *checkpoint.urlpatterns,
    *run_metadata.urlpatterns,
    *v1_events.urlpatterns,
    *v1_runs.urlpatterns,
    *v1_functions.urlpatterns,
    *v1_bulk.urlpatterns,
    *v1_openapi.urlpatterns,
]
