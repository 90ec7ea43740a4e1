from django.db import models
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from controlplane.fields import public_id_field
from controlplane.tenancy.models import Environment

DEFAULT_RETRIES = 4
MAX_RETRIES = 20


class App(models.Model):
    """An app served with an Inngest SDK, known by the `appName` it registers with."""

    public_id = public_id_field()
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="apps")
    app_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000)
    sdk = models.CharField(max_length=64, blank=True)  # "py:v0.5.19", "js:v4.24.0"
    framework = models.CharField(max_length=64, blank=True)
    app_version = models.CharField(max_length=255, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["environment", "app_id"], name="app_id_unique_per_env")
        ]

    def __str__(self):
        return self.app_id

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class SyncStatus(models.TextChoices):
    SUCCESS = "success", "Succeeded"
    FAILED = "failed", "Failed"


class SyncKind(models.TextChoices):
    IN_BAND = "in_band", "In-band"
    OUT_OF_BAND = "out_of_band", "Out-of-band"


class AppSync(models.Model):
    """One attempt to sync an app, successful or not; the app's sync history."""

    public_id = public_id_field()
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="app_syncs")
    # Null for a failed sync that never learned which app it was for.
    app = models.ForeignKey(
        App, on_delete=models.CASCADE, null=True, blank=True, related_name="syncs"
    )
    status = models.CharField(max_length=8, choices=SyncStatus.choices)
    kind = models.CharField(max_length=12, choices=SyncKind.choices, blank=True)
    url = models.URLField(max_length=2000)
    sdk = models.CharField(max_length=64, blank=True)
    framework = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)  # plain words for people
    diff = models.JSONField(default=dict, blank=True)  # added / removed / changed, field by field
    functions = models.JSONField(default=list, blank=True)  # the configs as registered
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["app", "-started_at"], name="appsync_app_recent"),
            models.Index(fields=["environment", "-started_at"], name="appsync_env_recent"),
        ]

    def __str__(self):
        return f"sync {self.public_id} ({self.status})"

    @property
    def succeeded(self) -> bool:
        return self.status == SyncStatus.SUCCESS

    @property
    def modified(self) -> bool:
        """Whether the sync changed the function set (what /fn/register answers as `modified`)."""
        return any(self.diff.get(part) for part in ("added", "removed", "changed"))


class Function(models.Model):
    """A function an app declared, with its full config as the SDK sent it."""

    public_id = public_id_field()
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="functions")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="functions")
    slug = models.CharField(max_length=255)  # the composite id the SDK uses: "<app>-<fn>"
    name = models.CharField(max_length=255)
    config = models.JSONField()  # FunctionConfig (PROTOCOL.md 2.3), deployId stripped
    version = models.PositiveIntegerField(default=1)  # bumped when the config changes
    paused_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)  # gone from the app's last sync
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "slug"], name="function_slug_unique_per_env"
            )
        ]

    def __str__(self):
        return self.slug

    @property
    def step_url(self) -> str:
        """Where the server calls the function (discovery: stepId=step)."""
        return self.config["steps"]["step"]["runtime"]["url"]

    @property
    def is_endpoint(self) -> bool:
        """A durable endpoint's route (engine/endpoints.py), called back as its caller called it."""
        return "endpoint" in self.config

    @property
    def max_attempts(self) -> int:
        """Attempts per step: declared retries + 1 (Inngest: 4 retries by default, 20 at most)."""
        retries = (self.config["steps"]["step"].get("retries") or {}).get("attempts")
        retries = DEFAULT_RETRIES if retries is None else retries
        return min(max(int(retries), 0), MAX_RETRIES) + 1

    @property
    def is_active(self) -> bool:
        return self.removed_at is None and self.paused_at is None and not self.app.is_archived


class FunctionTrigger(models.Model):
    """A trigger of a live function: event triggers are indexed for matching incoming events by
    name (a wildcard such as "app/*" is stored as declared and found through the patterns an
    event name expands to: registry/wildcards.py); cron triggers own the celery-beat row that
    fires them and remember which scheduled time is next."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="function_triggers"
    )
    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="triggers")
    event_name = models.CharField(max_length=256, blank=True)
    expression = models.TextField(blank=True)  # CEL over `event`; empty = every event of that name
    cron = models.CharField(max_length=255, blank=True)  # "TZ=Europe/Paris 0 3 * * *"
    periodic_task = models.OneToOneField(
        PeriodicTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="function_trigger",
    )
    # The cron's next scheduled time not yet fired: firing moves it on in the transaction that
    # stores the fires, so each scheduled time fires once, late or not (engine/cron.py).
    cron_next_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["environment", "event_name"],
                name="trigger_env_event",
                condition=~Q(event_name=""),
            ),
            models.Index(
                fields=["cron_next_at"],
                name="trigger_cron_due",
                condition=Q(cron_next_at__isnull=False),
            ),
        ]

    def __str__(self):
        return self.event_name or f"cron {self.cron}"
