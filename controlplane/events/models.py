from django.db import models
from django.utils import timezone

from controlplane.fields import public_id_field
from controlplane.keys.models import EventKey
from controlplane.tenancy.models import Environment


class EventSource(models.TextChoices):
    API = "api", "Event API"
    DASHBOARD = "dashboard", "Dashboard"
    INTERNAL = "internal", "Internal"


class Event(models.Model):
    """One received event, stored as the SDKs will see it again in `event` / `events`."""

    public_id = public_id_field()  # the ULID the Event API answers with
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=256)
    data = models.JSONField(default=dict)
    # The sender's idempotency id (`id` in the payload); empty when none was given.
    external_id = models.CharField(max_length=255, blank=True)
    ts = models.BigIntegerField(
        help_text="Milliseconds since the epoch, from the payload or receipt."
    )
    user = models.JSONField(default=dict, blank=True)
    version = models.CharField(max_length=64, blank=True)
    # What the sender put under `meta` (sessions folded in: events/meta.py), handed on as is.
    meta = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=EventSource.choices)
    event_key = models.ForeignKey(EventKey, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["environment", "-received_at", "-id"], name="event_env_recent"),
            models.Index(
                fields=["environment", "name", "-received_at", "-id"], name="event_env_name_recent"
            ),
            models.Index(
                fields=["environment", "external_id", "received_at"],
                name="event_env_external_id",
                condition=~models.Q(external_id=""),
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.public_id}"

    def as_sdk_payload(self) -> dict:
        """The event as the execution request's `event`/`events` carry it (PROTOCOL.md 4.1)."""
        payload = {
            "name": self.name,
            "data": self.data,
            "id": self.external_id or self.public_id,
            "ts": self.ts,
            "user": self.user,
        }
        if self.version:
            payload["v"] = self.version
        if self.meta:
            payload["meta"] = self.meta
        return payload
