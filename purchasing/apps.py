from django.apps import AppConfig


class PurchasingConfig(AppConfig):
    name = "purchasing"

    def ready(self) -> None:
        from common.alerts import register_alert_kind
        from stock.floor.engine import register_job

        from .alerts import REORDER
        from .floor import ReceiveOrderJob
        from .transfer_floor import ReceiveTransferJob, ShipTransferJob

        register_job(ReceiveOrderJob())
        register_job(ShipTransferJob())
        register_job(ReceiveTransferJob())
        register_alert_kind(REORDER)
