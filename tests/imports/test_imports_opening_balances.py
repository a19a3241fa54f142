"""``import_opening_balances``: receipts posted through the stock services, idempotent, all or none."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from guardian.shortcuts import assign_perm

from catalog.models import Item
from catalog.permissions import WarehouseAction
from stock.models import Lot, Movement, MovementKind, StockLevel
from stock.resources import REFERENCE_TYPE, source_key
from tests.stock.factories import ItemFactory, LocationFactory, UserFactory, WarehouseFactory, ledger_snapshot

pytestmark = pytest.mark.django_db

HEADER = "sku,warehouse,location,quantity,unit_cost,lot,expiry\n"


@pytest.fixture
def world(units):
    warehouse = WarehouseFactory(code="AMS")
    return {
        "bin": LocationFactory(warehouse=warehouse, code="A-01"),
        "other": LocationFactory(warehouse=WarehouseFactory(code="RTM"), code="B-01"),
        "widget": ItemFactory(sku="WIDGET", standard_cost=Decimal("2.5000")),
        "milk": ItemFactory(sku="MILK", lot_tracked=True),
    }


def test_rows_are_posted_as_receipts_by_the_user_with_lots_and_costs(run, write, world):
    user = UserFactory(username="opener", is_superuser=True)
    expiry = (date.today() + timedelta(days=20)).isoformat()
    path = write("opening.csv", HEADER + f"widget,ams,a-01,10,,,\nMILK,AMS,A-01,4,1.2,L1,{expiry}\n")

    ran = run("import_opening_balances", path, "--user", "opener")

    assert ran.ok, ran.text
    movements = list(Movement.objects.order_by("id"))
    assert [(m.item.sku, m.quantity, m.unit_cost, m.kind, m.actor) for m in movements] == [
        ("WIDGET", Decimal(10), Decimal("2.5"), MovementKind.RECEIPT, user),
        ("MILK", Decimal(4), Decimal("1.2"), MovementKind.RECEIPT, user),
    ]
    assert {(m.reference_type, m.reference_id, m.reference_line) for m in movements} == {
        (REFERENCE_TYPE, source_key("opening.csv"), "2"),
        (REFERENCE_TYPE, source_key("opening.csv"), "3"),
    }
    assert Lot.objects.get(code="L1").expiry_date.isoformat() == expiry
    assert StockLevel.objects.get(item=world["widget"], location=world["bin"]).on_hand == Decimal(10)


def test_running_the_same_file_again_posts_nothing_twice(run, write, world):
    path = write("opening.csv", HEADER + "WIDGET,AMS,A-01,3,,,\n")
    assert run("import_opening_balances", path).ok

    ran = run("import_opening_balances", path)

    assert ran.ok, ran.text
    assert "0 new, 0 updated, 1 unchanged" in ran.out
    assert Movement.objects.count() == 1


def test_a_different_file_under_the_same_name_is_refused(run, write, world):
    assert run("import_opening_balances", write("opening.csv", HEADER + "WIDGET,AMS,A-01,3,,,\n")).ok
    before = ledger_snapshot()

    ran = run("import_opening_balances", write("opening.csv", HEADER + "WIDGET,AMS,A-01,5,,,\n"))

    assert not ran.ok
    assert "Row 2 of a file with this name was already imported with other values" in ran.err
    assert ledger_snapshot() == before


def test_every_bad_row_is_named_and_nothing_is_posted(run, write, world):
    before = ledger_snapshot()
    path = write(
        "opening.csv",
        HEADER
        + "NOPE,AMS,A-01,1,,,\n"
        + "WIDGET,XXX,A-01,1,,,\n"
        + "WIDGET,AMS,Z-99,1,,,\n"
        + "WIDGET,AMS,A-01,0,,,\n"
        + "WIDGET,AMS,A-01,-2,,,\n"
        + "MILK,AMS,A-01,1,,,\n"
        + "WIDGET,RTM,B-01,1,,L9,\n"
        + "MILK,AMS,A-01,1,,L2,2030-02-30\n"
        + "WIDGET,RTM,B-01,2,,,\n"
        + "widget,rtm,b-01,1,,,\n",
    )

    ran = run("import_opening_balances", path)

    assert not ran.ok
    for expected in (
        "Row 2, column sku ('NOPE'): There is no item 'NOPE'.",
        "Row 3, column warehouse ('XXX'): There is no warehouse XXX.",
        "Row 4, column location ('Z-99'): Warehouse AMS has no location Z-99.",
        "Row 5, column quantity ('0'): must be greater than zero (got 0).",
        "Row 6, column quantity ('-2'): must be greater than zero (got -2).",
        "Row 7, column lot: MILK is lot-tracked: give its lot.",
        "Row 7, column expiry: MILK is perishable: give the lot's expiry date.",
        "Row 8, column lot ('L9'): WIDGET is not lot-tracked: leave the lot empty.",
        "Row 9, column expiry ('2030-02-30'): '2030-02-30' is not a real date",
        "Row 11, column sku ('widget'): widget at RTM/B-01 is on rows 10 and 11.",
    ):
        assert expected in ran.err, (expected, ran.err)
    assert ledger_snapshot() == before


def test_the_user_needs_the_right_to_post_in_the_warehouse(run, write, world):
    clerk = UserFactory(username="clerk-ams")
    clerk.user_permissions.add(Permission.objects.get(codename="add_movement"))
    assign_perm(f"catalog.{WarehouseAction.POST}", clerk, world["bin"].warehouse)

    ran = run(
        "import_opening_balances",
        write("opening.csv", HEADER + "WIDGET,AMS,A-01,1,,,\nWIDGET,RTM,B-01,1,,,\n"),
        "--user",
        "clerk-ams",
    )

    assert not ran.ok
    assert "Row 3, column warehouse ('RTM'): You may not post stock in warehouse RTM." in ran.err
    assert not Movement.objects.exists()
    assert run("import_opening_balances", write("ams.csv", HEADER + "WIDGET,AMS,A-01,1,,,\n"), "--user", "clerk-ams").ok


def test_dry_run_posts_nothing(run, write, world):
    ran = run("import_opening_balances", write("opening.csv", HEADER + "WIDGET,AMS,A-01,1,,,\n"), "--dry-run")

    assert ran.ok, ran.text
    assert "1 new" in ran.out and "Dry run" in ran.out
    assert not Movement.objects.exists()
    assert Item.objects.filter(sku="WIDGET").exists()


def test_a_row_finer_than_the_items_unit_is_named_and_nothing_is_posted(run, write, world):
    before = ledger_snapshot()
    path = write("opening.csv", HEADER + "WIDGET,AMS,A-01,3,,,\nWIDGET,RTM,B-01,2.5,,,\n")

    ran = run("import_opening_balances", path)

    assert not ran.ok
    assert "Row 3, column quantity ('2.5'): WIDGET is counted in whole units (each); 2.5 is not allowed." in ran.err
    assert ledger_snapshot() == before  # row 2 was fine, but a file posts all or nothing
