"""Units of measure: conversion within a dimension, refusal across dimensions or without ratio."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Dimension, UnitOfMeasure

pytestmark = pytest.mark.django_db


def test_migrations_create_the_common_units(units):
    assert set(units) == {"each", "pair", "dozen", "box12", "kg", "g", "l", "ml", "m", "cm"}


@pytest.mark.parametrize(
    ("source", "target", "quantity", "expected"),
    [
        ("kg", "g", "2.5", "2500"),
        ("g", "kg", "250", "0.25"),
        ("box12", "each", "3", "36"),
        ("pair", "each", "5", "10"),
        ("dozen", "box12", "2", "2"),
        ("l", "ml", "0.75", "750"),
        ("cm", "m", "150", "1.5"),
        ("each", "each", "7", "7"),
    ],
)
def test_convert_within_a_dimension(units, source, target, quantity, expected):
    assert units[source].convert(Decimal(quantity), units[target]) == Decimal(expected)


def test_factor_is_how_many_target_units_make_one_source_unit(units):
    assert units["box12"].factor_to(units["each"]) == 12
    assert units["kg"].factor_to(units["g"]) == 1000
    assert units["each"].factor_to(units["dozen"]) * 12 == pytest.approx(Decimal(1))


@pytest.mark.parametrize(("source", "target"), [("kg", "each"), ("each", "kg"), ("l", "kg"), ("m", "ml")])
def test_conversion_across_dimensions_is_refused(units, source, target):
    with pytest.raises(ValidationError) as excinfo:
        units[source].factor_to(units[target])

    assert excinfo.value.messages == [
        f"Cannot convert {source} ({units[source].dimension}) to {target} ({units[target].dimension})."
    ]


def test_unit_without_ratio_converts_only_to_itself(units):
    sack = UnitOfMeasure.objects.create(code="sack", name="Sack", dimension=Dimension.MASS, ratio=None)

    for other, direction in ((units["kg"], sack.factor_to), (sack, units["kg"].factor_to)):
        with pytest.raises(ValidationError, match="No conversion between"):
            direction(other)
    assert sack.factor_to(sack) == 1


@pytest.mark.parametrize("ratio", [Decimal(0), Decimal(-1)])
def test_ratio_must_be_positive(ratio):
    unit = UnitOfMeasure(code="bad", name="Bad", dimension=Dimension.COUNT, ratio=ratio)

    with pytest.raises(ValidationError) as excinfo:
        unit.full_clean()
    assert "ratio" in excinfo.value.message_dict

    with pytest.raises(IntegrityError), transaction.atomic():
        unit.save()

    assert not UnitOfMeasure.objects.filter(code="bad").exists()


def test_item_with_a_unit_without_ratio_needs_its_own_factor(make_item, units):
    sack = UnitOfMeasure.objects.create(code="sack", name="Sack", dimension=Dimension.MASS, ratio=None)

    with pytest.raises(ValidationError) as excinfo:
        make_item(sku="FLOUR", base_unit=units["kg"], purchase_unit=sack)
    assert "purchase_factor" in excinfo.value.message_dict

    flour = make_item(sku="FLOUR", base_unit=units["kg"], purchase_unit=sack, purchase_factor=Decimal(25))
    assert flour.purchase_factor_effective == 25
