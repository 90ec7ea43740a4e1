from django.apps import AppConfig


class FlowConfig(AppConfig):
    name = "controlplane.flow"
    label = "flow"
