from django.apps import AppConfig


class BulkConfig(AppConfig):
    name = "controlplane.bulk"
    label = "bulk"

    def ready(self):
        # The engine's periodic loops advance bulk actions; the engine does not import us.
        from controlplane.bulk.services import bulk_tick
        from controlplane.engine.ticks import tick_register

        tick_register(bulk_tick)
