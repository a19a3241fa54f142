from django.apps import AppConfig


class CountingConfig(AppConfig):
    name = "counting"

    def ready(self) -> None:
        from common.alerts import register_alert_kind
        from stock.floor.engine import register_job  # the floor imports models: not before ready

        from .alerts import VARIANCES
        from .floor import CountJob

        register_job(CountJob())
        register_alert_kind(VARIANCES)
