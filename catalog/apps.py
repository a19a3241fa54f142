from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog (master data)"

    def ready(self) -> None:
        # Every admin form reads decimals by the one rule of every door (common.numbers). The
        # admin's per-field-type defaults reach admins made from now on (inlines are made per
        # request); the admins registered already (autodiscover ran in the admin app's ready(),
        # before this one) copied them at creation, so they get it too.
        from django.contrib import admin
        from django.contrib.admin import options
        from django.db import models

        from common.numbers import DecimalNumberField

        options.FORMFIELD_FOR_DBFIELD_DEFAULTS.setdefault(models.DecimalField, {})["form_class"] = DecimalNumberField
        for model_admin in admin.site._registry.values():
            model_admin.formfield_overrides.setdefault(models.DecimalField, {})["form_class"] = DecimalNumberField

        # The posting path's cached virtual locations (catalog.models.virtual_rows_forget)
        from django.db.models.signals import post_delete, post_migrate, post_save

        from .models import Location, virtual_rows_forget

        post_migrate.connect(virtual_rows_forget, dispatch_uid="catalog.virtual_rows_forget")
        for signal in (post_save, post_delete):
            signal.connect(virtual_rows_forget, sender=Location, dispatch_uid="catalog.virtual_rows_forget")
