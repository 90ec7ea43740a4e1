from django.conf import settings
from django.db import models

from controlplane.fields import public_id_field


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_RANK[Role(role)] >= ROLE_RANK[Role(minimum)]


class Organization(models.Model):
    public_id = public_id_field()
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    require_two_factor = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    public_id = public_id_field()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique")
        ]

    def __str__(self):
        return f"{self.user} in {self.organization} ({self.role})"

    def allows(self, minimum: str) -> bool:
        return role_at_least(self.role, minimum)


class EnvironmentKind(models.TextChoices):
    PRODUCTION = "production", "Production"
    DEVELOPMENT = "development", "Development"
    CUSTOM = "custom", "Custom"


class Environment(models.Model):
    public_id = public_id_field()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="environments"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50)
    kind = models.CharField(max_length=12, choices=EnvironmentKind.choices)
    # The server's local-development environment, like Inngest's dev server on port 8288: apps
    # in SDK dev mode (no signing key) sync and run here unsigned, and events sent with
    # NO_EVENT_KEY_SET (or any key no environment has) land here. At most one per server.
    is_dev_mode = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"], name="environment_slug_unique"
            ),
            models.UniqueConstraint(
                fields=["is_dev_mode"],
                condition=models.Q(is_dev_mode=True),
                name="one_dev_mode_environment",
            ),
        ]

    def __str__(self):
        return f"{self.organization.slug}/{self.slug}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Invitation(models.Model):
    """An invitation link for an email address; the token is shown once and stored hashed."""

    public_id = public_id_field()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.email} to {self.organization}"


class AuditEntry(models.Model):
    """Who did what, when, to which object. Append-only."""

    public_id = public_id_field()
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries"
    )
    environment = models.ForeignKey(Environment, on_delete=models.SET_NULL, null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # Kept as text too, so the log still reads right after the person or object is gone.
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "-id"], name="audit_org_recent")]

    def __str__(self):
        return f"{self.actor_label} {self.action} {self.target_label}"
