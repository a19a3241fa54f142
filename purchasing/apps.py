from django.apps import AppConfig


class PurchasingConfig(AppConfig):
    name = "purchasing"

    def ready(self) -> None:
        from common.alerts import register_alert_kind
        from stock.floor.engine import register_job

        from .alerts import REORDER
        from .floor import ReceiveOrderJob

        register_job(ReceiveOrderJob())
        register_alert_kind(REORDER)
