from django.apps import AppConfig


class PurchasingConfig(AppConfig):
    name = "purchasing"

    def ready(self) -> None:
        from stock.floor.engine import register_job

        from .floor import ReceiveOrderJob
        from .transfer_floor import ReceiveTransferJob, ShipTransferJob

        register_job(ReceiveOrderJob())
        register_job(ShipTransferJob())
        register_job(ReceiveTransferJob())
