"""Reorder suggestions in whole units of the item's unit (issue 12, finding 4)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from purchasing.models import ReorderPolicy
from purchasing.selectors import order_quantity

pytestmark = pytest.mark.django_db


def test_a_suggestion_is_rounded_up_to_what_the_unit_counts(item, warehouse):
    policy = ReorderPolicy(item=item, warehouse=warehouse, reorder_point=Decimal(10), safety_stock=Decimal(0))

    # old stock of 7.5 each: 10 - 7.5 = 2.5, which no one can order in each: 3.
    assert order_quantity(policy, Decimal("7.5"), None) == Decimal(3)
