from django.apps import AppConfig


class CountingConfig(AppConfig):
    name = "counting"

    def ready(self) -> None:
        from common.alerts import register_alert_kind
        from stock.floor.engine import register_blind_bins, register_job  # the floor imports models: not before ready

        from .alerts import VARIANCES
        from .floor import CountJob
        from .selectors import bins_counted_blind

        register_job(CountJob())
        register_blind_bins(bins_counted_blind)
        register_alert_kind(VARIANCES)
