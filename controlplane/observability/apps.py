from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "controlplane.observability"
    default_auto_field = "django.db.models.BigAutoField"
