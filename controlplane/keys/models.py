from django.conf import settings
from django.db import models

from controlplane.fields import public_id_field
from controlplane.tenancy.models import Environment


class FilterMode(models.TextChoices):
    NONE = "none", "No filter"
    ALLOW = "allow", "Allow only these events"
    DENY = "deny", "Deny these events"


class EventKey(models.Model):
    """A credential apps send events with (`POST /e/{key}`). Stored as a SHA-256 hash."""

    public_id = public_id_field()
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="event_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8)
    key_hash = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    # Filters in the shape the Event API checks directly: a mode and a list of exact names,
    # plus a list of networks (empty = any address).
    filter_mode = models.CharField(
        max_length=5, choices=FilterMode.choices, default=FilterMode.NONE
    )
    filter_events = models.JSONField(default=list, blank=True)
    filter_networks = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="event_key_name_unique")
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class SigningKeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    NEXT = "next", "Next"
    FALLBACK = "fallback", "Fallback"


class SigningKey(models.Model):
    """A key the server signs requests to apps with and apps authenticate with.

    The server needs it in clear for HMACs, so it is encrypted at rest. `bearer_lookup` is
    sha256 of the SDK's bearer token: the bearer itself is a credential and is not stored.
    """

    public_id = public_id_field()
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="signing_keys"
    )
    state = models.CharField(max_length=8, choices=SigningKeyState.choices)
    encrypted_key = models.TextField()
    display_prefix = models.CharField(max_length=24)
    bearer_lookup = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "state"], name="one_signing_key_per_state"
            )
        ]

    def __str__(self):
        return f"{self.display_prefix}… ({self.state})"


class ApiAccess(models.TextChoices):
    READ = "read", "Read only"
    READ_WRITE = "read_write", "Read and write"


class ApiKey(models.Model):
    """A credential for the REST API (/v1), scoped to one environment. Stored as a SHA-256 hash;
    revoked keys stay, so the audit log and "last used" still name them."""

    public_id = public_id_field()
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # "cpk_" and the first characters of the secret
    key_hash = models.CharField(max_length=64, unique=True)
    access = models.CharField(max_length=10, choices=ApiAccess.choices)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def can_write(self) -> bool:
        return self.access == ApiAccess.READ_WRITE
