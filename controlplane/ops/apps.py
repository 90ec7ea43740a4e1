from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator commands: serving, scripted installs."""

    name = "controlplane.ops"
    label = "ops"
