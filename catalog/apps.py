from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog (master data)"

    def ready(self) -> None:
        # Every admin form reads decimals by the one rule of every door (catalog.numbers). The
        # admin's per-field-type defaults reach admins made from now on (inlines are made per
        # request); the admins registered already (autodiscover ran in the admin app's ready(),
        # before this one) copied them at creation, so they get it too.
        from django.contrib import admin
        from django.contrib.admin import options
        from django.db import models

        from .numbers import DecimalNumberField

        options.FORMFIELD_FOR_DBFIELD_DEFAULTS.setdefault(models.DecimalField, {})["form_class"] = DecimalNumberField
        for model_admin in admin.site._registry.values():
            model_admin.formfield_overrides.setdefault(models.DecimalField, {})["form_class"] = DecimalNumberField
