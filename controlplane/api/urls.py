"""Machine endpoints at the host root: the SDK endpoints (/e/, /fn/register, /v0/) and /v1/."""

from django.urls import path

from controlplane.api import events

urlpatterns: list = [
    path("e/<str:event_key>", events.event_api, name="event-api"),
]
