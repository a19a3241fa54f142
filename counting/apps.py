from django.apps import AppConfig


class CountingConfig(AppConfig):
    name = "counting"

    def ready(self) -> None:
        from stock.floor.engine import register_job  # the floor imports models: not before ready

        from .floor import CountJob

        register_job(CountJob())
