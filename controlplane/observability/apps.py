from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "controlplane.observability"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from controlplane.observability import redaction

        redaction.install()  # in every process: servers, workers, beat, commands
