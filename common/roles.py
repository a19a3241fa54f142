"""The five roles and their model permissions (docs/roles.md).

``sync_roles`` creates the groups and grants each the model permissions its spec names. Data
migrations of each app call it (with the historical app registry), so a fresh database has the
roles with every permission that exists at that point. Warehouse-scoped object permissions
(django-guardian) are granted per warehouse on top of these.

A spec maps ``"app_label"`` or ``"app_label.model"`` (or ``"*"``) to the actions allowed; the most
specific key wins.
"""

from __future__ import annotations

from typing import Any

VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
ALL = (VIEW, ADD, CHANGE, DELETE)

ADMINISTRATOR = "Administrator"
INVENTORY_MANAGER = "Inventory manager"
PURCHASING_MANAGER = "Purchasing manager"
WAREHOUSE_CLERK = "Warehouse clerk"
AUDITOR = "Auditor"

# Ledger rows (movements, levels, layers) are never changed or deleted by anyone: "add" on
# Movement is the right to post; reversals are new movements. The audit rows of warehouse
# access (catalog.WarehouseAccessChange) are only read: catalog.access writes them.
ROLE_SPECS: dict[str, dict[str, tuple[str, ...]]] = {
    ADMINISTRATOR: {
        "*": ALL,
        "catalog.warehouseaccesschange": (VIEW,),
        "stock": (VIEW, ADD),
        "stock.reservation": (VIEW, ADD, CHANGE),
        "stock.lot": (VIEW, ADD, CHANGE),
    },
    INVENTORY_MANAGER: {
        "catalog": ALL,
        "catalog.warehouseaccesschange": (VIEW,),
        "stock": (VIEW, ADD),
        "stock.reservation": (VIEW, ADD, CHANGE),
        "stock.lot": (VIEW, ADD, CHANGE),
        "counting": ALL,
        "purchasing": (VIEW,),
        "reports": (VIEW,),
        "django_celery_beat": (VIEW, CHANGE),
        "common.jobrun": (VIEW,),  # what the jobs did and mailed (docs/operations.md)
        "common.alertcondition": (VIEW,),
    },
    PURCHASING_MANAGER: {
        "catalog": (VIEW,),
        "catalog.item": (VIEW, ADD, CHANGE),
        "catalog.barcode": (VIEW, ADD, CHANGE),
        "stock": (VIEW,),
        "purchasing": ALL,
        "reports": (VIEW,),
    },
    WAREHOUSE_CLERK: {
        "catalog": (VIEW,),
        "stock": (VIEW,),
        "stock.movement": (VIEW, ADD),
        "stock.lot": (VIEW, ADD),
        "stock.reservation": (VIEW, ADD, CHANGE),
        "counting": (VIEW, CHANGE),
    },
    AUDITOR: {"*": (VIEW,), "common.jobrun": (VIEW,), "common.alertcondition": (VIEW,)},
}

# Warehouse actions (custom permissions of catalog.Warehouse) granted for *every* warehouse by a
# model-level grant; the other roles get them per warehouse with django-guardian.
GLOBAL_WAREHOUSE_ACTIONS: dict[str, tuple[str, ...]] = {
    ADMINISTRATOR: (
        "view_warehouse_stock",
        "post_warehouse_movements",
        "adjust_warehouse_stock",
        "approve_warehouse_adjustments",
        "receive_warehouse_purchases",
        "manage_warehouse",
        "manage_warehouse_access",
    ),
    AUDITOR: ("view_warehouse_stock",),
}

# Apps whose permissions the roles are about (auth and the rest are the Administrator's).
PRODUCT_APPS = ("catalog", "stock", "counting", "purchasing", "reports", "django_celery_beat")


def _allowed(spec: dict[str, tuple[str, ...]], app_label: str, model: str) -> tuple[str, ...]:
    if model.startswith("historical"):  # history is read-only for everyone
        return (VIEW,) if VIEW in _allowed(spec, app_label, model.removeprefix("historical")) else ()
    for key in (f"{app_label}.{model}", app_label):
        if key in spec:
            return spec[key]
    if "*" in spec and (app_label in PRODUCT_APPS or spec is ROLE_SPECS[ADMINISTRATOR]):
        return spec["*"]
    return ()


def mail_recipients(*roles: str) -> Any:
    """Active users in any of the role groups ``roles`` who have an e-mail address, once each,
    in a stable order: whom the jobs' alert mails go to."""
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=roles)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def sync_roles(apps: Any, schema_editor: Any = None) -> None:
    """Create the role groups and grant their model permissions (idempotent, additive)."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(Permission.objects.select_related("content_type"))
    for role, spec in ROLE_SPECS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in permissions:
            action, _, _model = perm.codename.partition("_")
            ct = perm.content_type
            allowed = _allowed(spec, ct.app_label, ct.model)
            is_model_perm = perm.codename == f"{action}_{ct.model}"
            if (is_model_perm and action in allowed) or perm.codename in GLOBAL_WAREHOUSE_ACTIONS.get(role, ()):
                wanted.append(perm)
        group.permissions.add(*wanted)
