from django.apps import AppConfig


class PurchasingConfig(AppConfig):
    name = "purchasing"

    def ready(self) -> None:
        from stock.floor.engine import register_job

        from .floor import ReceiveOrderJob

        register_job(ReceiveOrderJob())
