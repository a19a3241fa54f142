from django.apps import AppConfig


class StockConfig(AppConfig):
    name = "stock"
    verbose_name = "Stock ledger"

    def ready(self) -> None:
        from stock.floor.jobs import register_builtin_jobs  # the floor imports models: not before ready

        register_builtin_jobs()

        from common.alerts import register_alert_kind
        from stock.alerts import APPROVALS, EXPIRY, LOW_STOCK, RECONCILIATION

        register_alert_kind(EXPIRY)
        register_alert_kind(LOW_STOCK)
        register_alert_kind(RECONCILIATION)
        register_alert_kind(APPROVALS)
