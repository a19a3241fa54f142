"""Every change form of the admin, every editable field: no edit of master data or documents
changes what ``reconcile`` reports or moves a stock level (DESIGN rule 10; issue 12, finding 2).

The world is the demo (master data, opening stock, sales history, purchase orders) plus one
negative level in RTM, which allows negative stock. For each model of the product's apps in
``admin.site._registry`` the walk takes the object the ledger depends on most (an item with
movements, a bin with stock, the warehouse with a negative level, the unit and category of an
item with movements; else the first one), reads its change form as an Administrator sees it,
and posts it once per editable field with that field alone changed to another value. Each post
runs in a savepoint rolled back afterwards, so every edit starts from the same world.

Asserted for each post: no server error; ``reconcile()`` reports what it reported before; no
stock level changed. And the edits that would change what the ledger means were refused.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from catalog.models import Category, Item, Location, UnitOfMeasure, Warehouse
from catalog.services import warehouse_save
from purchasing.demo import seed_demo
from stock.models import Movement, StockLevel
from stock.reconciliation import reconcile
from stock.services import stock_issue
from tests.stock.factories import UserFactory

pytestmark = pytest.mark.django_db

APPS = ("catalog", "stock", "purchasing", "counting")
# (model, field) edits the ledger depends on: the walk must see each refused.
MUST_REFUSE = {
    ("item", "base_unit"),
    ("item", "tracking"),
    ("item", "valuation_method"),
    ("location", "warehouse"),
    ("location", "kind"),
    ("unitofmeasure", "ratio"),
    ("unitofmeasure", "dimension"),
    ("warehouse", "allow_negative_stock"),
}


@pytest.fixture(scope="module")
def demo_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    with django_db_blocker.unblock(), transaction.atomic():
        seed_demo()
        admin_user = UserFactory(username="walker", is_superuser=True, is_staff=True)
        rtm = Warehouse.objects.get(code="RTM")
        warehouse_save(warehouse=_set(rtm, allow_negative_stock=True), actor=admin_user)
        level = StockLevel.objects.filter(location__warehouse=rtm, on_hand__gt=0).order_by("pk").first()
        # Issue one more than the bin holds: its level ends at -1.
        stock_issue(item=level.item, location=level.location, quantity=level.on_hand + 1, actor=admin_user)
        yield {"admin": admin_user, "rtm": rtm}
        transaction.set_rollback(True)


def _set(obj: Model, **fields: Any) -> Model:
    for name, value in fields.items():
        setattr(obj, name, value)
    return obj


def _levels() -> list[tuple]:
    return sorted(StockLevel.objects.values_list("item_id", "location_id", "lot_id", "on_hand", "reserved"))


def _object_to_edit(model: type[Model], queryset: Any) -> Model | None:
    """The object of ``model`` the ledger depends on most (a bin with stock in AMS whose code
    is free in the other warehouses, so that only the rules can stop its move)."""
    moved = Item.objects.filter(pk__in=Movement.objects.values("item_id"))
    preferred = {
        Item: lambda: queryset.filter(pk__in=moved),
        Location: lambda: (
            queryset.internal()
            .filter(pk__in=StockLevel.objects.filter(on_hand__gt=0).values("location_id"))
            .exclude(code__in=queryset.exclude(warehouse__code="AMS").values("code"))
        ),  # free to move to RTM
        Warehouse: lambda: queryset.filter(code="RTM"),
        UnitOfMeasure: lambda: queryset.filter(pk__in=moved.values("base_unit_id")),
        Category: lambda: queryset.filter(pk__in=moved.values("category_id")),
    }.get(model)
    found = preferred().order_by("pk").first() if preferred is not None else None
    return found or queryset.order_by("pk").first()


def _value_data(name: str, field: forms.Field, value: Any) -> dict[str, Any]:
    """POST data for ``field`` holding ``value`` (as the browser would send it)."""
    if isinstance(field.widget, forms.MultiWidget):
        parts = field.widget.decompress(value)
        return {f"{name}_{i}": "" if part is None else part for i, part in enumerate(parts)}
    if isinstance(field, forms.BooleanField):
        return {name: "on"} if value else {}
    if isinstance(field, forms.ModelMultipleChoiceField):
        return {name: [getattr(v, "pk", v) for v in (value or [])]}
    if value is None:
        return {name: ""}
    return {name: getattr(value, "pk", value)}


def _form_data(form: forms.BaseForm) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        data.update(_value_data(form.add_prefix(name), field, form[name].value()))
    return data


def _other_value(name: str, field: forms.Field, value: Any) -> Any:
    """Another valid-looking value for ``field``; ``_SKIP`` if there is none."""
    if isinstance(field, forms.BooleanField):
        return not value
    if isinstance(field, forms.ModelMultipleChoiceField):
        return _SKIP
    if isinstance(field, forms.ModelChoiceField):
        other = field.queryset.exclude(pk=getattr(value, "pk", value)).order_by("pk").first() if value else None
        other = other or field.queryset.order_by("pk").first()
        return other.pk if other is not None else _SKIP
    if isinstance(field, forms.ChoiceField):
        values = [str(key) for key, _ in field.choices if key not in ("", None)]
        others = [v for v in values if v != str(value)]
        return others[0] if others else _SKIP
    if isinstance(field, forms.DecimalField):
        return str(Decimal(value or 0) + 1)
    if isinstance(field, forms.IntegerField):
        return int(value or 0) + 1
    if isinstance(field, forms.SplitDateTimeField | forms.DateTimeField):
        return (value or datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) + datetime.timedelta(days=1)
    if isinstance(field, forms.DateField):
        return (value or datetime.date(2026, 1, 1)) + datetime.timedelta(days=1)
    if isinstance(field, forms.EmailField):
        return "changed@example.com"
    if isinstance(field, forms.CharField):
        if name.endswith("time_zone"):
            return "Europe/Paris"
        text = f"{value or ''}X"
        return text[-field.max_length :] if field.max_length else text
    return _SKIP


_SKIP = object()


def _optional_reference(field: forms.Field) -> bool:
    return isinstance(field, forms.ModelChoiceField) and not field.required and not field.disabled


def _walk_models() -> list[type[Model]]:
    models = [model for model in admin.site._registry if model._meta.app_label in APPS]
    return sorted(models, key=lambda model: model._meta.label)


def test_no_change_form_edit_changes_what_reconcile_reports(demo_world, db, settings):
    # A demo supplier's change form has an inline row per item it sells: more fields than
    # Django's default limit of 1000 (a real limit for big suppliers; see the report).
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = None
    client = Client()
    client.force_login(demo_world["admin"])
    baseline, levels = reconcile(), _levels()
    assert [d.check for d in baseline] == []  # the demo balances (negative stock is allowed in RTM)
    refused: set[tuple[str, str]] = set()
    walked = 0
    for model in _walk_models():
        app_label, model_name = model._meta.app_label, model._meta.model_name
        model_admin = admin.site._registry[model]
        obj = _object_to_edit(model, model._default_manager.all())
        if obj is None:
            continue
        url = reverse(f"admin:{app_label}_{model_name}_change", args=[obj.pk])
        page = client.get(url)
        assert page.status_code == 200, f"{url}: {page.status_code}"
        if not model_admin.has_change_permission(page.wsgi_request, obj):
            continue  # read-only (the ledger's own rows): nothing to post
        form = page.context["adminform"].form
        base = _form_data(form)
        for formset in page.context.get("inline_admin_formsets", []):
            inline = formset.formset
            base.update(_form_data(inline.management_form))
            base[f"{inline.prefix}-TOTAL_FORMS"] = str(inline.initial_form_count())
            for inline_form in inline.initial_forms:
                base.update(_form_data(inline_form))
        base["_save"] = "Save"
        for name, field in form.fields.items():
            if field.disabled:
                continue
            new = _other_value(name, field, form[name].value())
            if new is _SKIP:
                continue
            data = {k: v for k, v in base.items() if not (k == name or k.startswith(f"{name}_"))}
            data.update(_value_data(name, field, new))
            variants = [data]
            # Also with every other optional reference emptied, as a determined user would (a
            # bin's parent would otherwise refuse its move to another warehouse, its warehouse
            # its change into a virtual location).
            if optional := [n for n, f in form.fields.items() if n != name and _optional_reference(f)]:
                variants.append({**data, **dict.fromkeys(optional, "")})
            outcomes = []
            for variant in variants:
                with transaction.atomic():
                    response = client.post(url, variant)
                    walked += 1
                    assert response.status_code in (200, 302), f"{model_name}.{name}: {response.status_code}"
                    outcomes.append(response.status_code == 200)
                    assert reconcile() == baseline, f"editing {model_name}.{name} changed what reconcile reports"
                    assert _levels() == levels, f"editing {model_name}.{name} moved stock"
                    transaction.set_rollback(True)
            if all(outcomes):
                refused.add((model_name, name))
    assert walked > 50  # every master-data form was really posted
    assert refused >= MUST_REFUSE, f"accepted: {sorted(MUST_REFUSE - refused)}"
