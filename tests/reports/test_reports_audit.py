"""The audit trail page (/admin/audit-trail/): one list, newest first, of the ledger's movements
and the master-data history, with the right users; its filters, warehouse scoping, pagination,
CSV export (formula cells neutralised) and who may open it. Nothing on it writes."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog.models import Item, Location, UnitOfMeasure, Warehouse
from catalog.permissions import WarehouseAction
from common.roles import AUDITOR, INVENTORY_MANAGER, WAREHOUSE_CLERK
from reports.admin import csv_safe
from reports.audit import LEDGER, MASTER_DATA, history_sources
from stock.models import Lot, Movement
from stock.services import receipts_revalue, stock_receive, stock_transfer

pytestmark = pytest.mark.django_db

URL = "/admin/audit-trail/"


def _user(username: str, role: str | None = None, *, staff: bool = True, **extra) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", None, is_staff=staff, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _save(obj, user: User | None):
    """Save as ``user`` would through a request (simple_history's ``_history_user``)."""
    obj._history_user = user
    obj.save()
    return obj


@pytest.fixture
def world():
    """Two warehouses, AMS (anna's) and RTM; in order: master data by boss, a receipt by anna in
    AMS, an item renamed by anna, a receipt by boss in RTM, a bin in RTM renamed by boss."""
    boss = _user("boss", is_superuser=True)
    anna = _user("anna", INVENTORY_MANAGER)
    otto = _user("otto", AUDITOR)
    ams = _save(Warehouse(code="AMS", name="Amsterdam"), boss)
    rtm = _save(Warehouse(code="RTM", name="Rotterdam"), boss)
    for action in WarehouseAction.ALL:
        assign_perm(f"catalog.{action}", anna, ams)
    a01 = _save(Location(warehouse=ams, code="A-01-01", name="A-01-01"), boss)
    b01 = _save(Location(warehouse=rtm, code="B-01", name="B-01"), boss)
    each = UnitOfMeasure.objects.get(code="each")
    mug = _save(Item(sku="SKU-1", name="Mug", base_unit=each, valuation_method="average"), boss)
    plate = _save(Item(sku="SKU-2", name="Plate", base_unit=each, valuation_method="average"), boss)
    stock_receive(item=mug, location=a01, quantity=Decimal(5), unit_cost=Decimal(2), actor=anna)
    mug.name = "Big mug"
    _save(mug, anna)
    stock_receive(item=plate, location=b01, quantity=Decimal(7), unit_cost=Decimal(3), actor=boss)
    b01.name = "Bin B one"
    _save(b01, boss)
    return {"boss": boss, "anna": anna, "otto": otto, "ams": ams, "rtm": rtm, "a01": a01, "b01": b01, "mug": mug}


def _entries(client, viewer: User, /, **params):
    client.force_login(viewer)
    response = client.get(URL, params)
    assert response.status_code == 200
    return response.context["entries"]


def _csv(client, viewer: User, /, **params) -> list[dict[str, str]]:
    client.force_login(viewer)
    response = client.get(URL, {**params, "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_history_sources_are_discovered_from_the_registry():
    models = {source.model for source in history_sources()}
    assert {Item, Warehouse, Location, Lot} <= models
    assert Movement not in models  # the ledger is its own audit trail
    by_model = {source.model: source for source in history_sources()}
    assert by_model[Warehouse].warehouse_lookups == ("id",)
    assert by_model[Location].warehouse_lookups == ("warehouse_id",)
    assert by_model[Item].warehouse_lookups == () and by_model[Lot].item_lookups == ("item_id",)


def test_merges_movements_and_history_newest_first_with_their_users(client, world):
    entries = _entries(client, world["otto"])
    whens = [e.when for e in entries]
    assert whens == sorted(whens, reverse=True)
    top = [(e.kind, e.who, e.what) for e in entries[:4]]
    assert top == [
        (MASTER_DATA, "boss", "Changed location RTM/B-01"),
        (LEDGER, "boss", "Posted receipt of 7 SKU-2 into RTM/B-01"),
        (MASTER_DATA, "anna", "Changed item SKU-1 Big mug"),
        (LEDGER, "anna", "Posted receipt of 5 SKU-1 into AMS/A-01-01"),
    ]
    renamed = entries[2]
    assert [(c.field, c.old, c.new) for c in renamed.changes] == [("name", "Mug", "Big mug")]
    assert entries[0].warehouse == "RTM" and entries[1].warehouse == "RTM" and entries[3].warehouse == "AMS"
    created = [(e.who, e.action, e.object_label) for e in entries if e.action == "created"]
    assert ("boss", "created", "AMS Amsterdam") in created
    assert ("boss", "created", "SKU-2 Plate") in created
    assert ("boss", "created", "AMS/A-01-01") in created


def test_a_transfer_names_both_locations_and_warehouses(client, world):
    stock_transfer(
        item=world["mug"], source=world["a01"], destination=world["b01"], quantity=Decimal(2), actor=world["boss"]
    )
    newest = _entries(client, world["otto"])[0]
    assert newest.what == "Posted transfer of 2 SKU-1 from AMS/A-01-01 to RTM/B-01"
    assert newest.warehouse == "AMS → RTM"


def test_filter_by_user(client, world):
    entries = _entries(client, world["otto"], user="ANNA")
    assert {e.who for e in entries} == {"anna"}
    assert {e.kind for e in entries} == {LEDGER, MASTER_DATA}
    unknown = client.get(URL, {"user": "nobody"})
    assert unknown.context["entries"] == [] and "user" in unknown.context["form"].errors


def test_filter_by_warehouse(client, world):
    entries = _entries(client, world["otto"], warehouse=world["rtm"].pk)
    assert entries and {e.warehouse for e in entries} == {"RTM"}
    assert {e.object_type for e in entries} == {"movement", "warehouse", "location"}


def test_filter_by_sku_ignores_case(client, world):
    entries = _entries(client, world["otto"], sku="sku-1")
    assert entries
    assert all("SKU-1" in e.what for e in entries)
    assert {e.object_type for e in entries} == {"movement", "item"}


def test_filter_by_kind(client, world):
    assert {e.kind for e in _entries(client, world["otto"], kind="ledger")} == {LEDGER}
    assert {e.kind for e in _entries(client, world["otto"], kind="master")} == {MASTER_DATA}


def test_filter_by_dates(client, world):
    old = timezone.now() - timedelta(days=10)
    Item.history.filter(sku="SKU-2", history_type="+").update(history_date=old)
    today = timezone.localdate()
    before = _entries(client, world["otto"], date_to=(today - timedelta(days=5)).isoformat())
    assert [(e.action, e.object_label) for e in before] == [("created", "SKU-2 Plate")]
    since = _entries(client, world["otto"], date_from=today.isoformat())
    assert since and ("created", "SKU-2 Plate") not in [(e.action, e.object_label) for e in since]
    assert any(e.kind == LEDGER for e in since)
    window = _entries(
        client,
        world["otto"],
        date_from=(today - timedelta(days=11)).isoformat(),
        date_to=(today - timedelta(days=9)).isoformat(),
    )
    assert len(window) == 1
    reversed_range = client.get(URL, {"date_from": today.isoformat(), "date_to": (today - timedelta(days=1))})
    assert reversed_range.context["entries"] == [] and reversed_range.context["form"].errors


def test_scoped_user_never_sees_another_warehouses_movements_or_locations(client, world):
    client.force_login(world["anna"])
    page = client.get(URL)
    content = page.content.decode()
    assert "Posted receipt of 5 SKU-1 into AMS/A-01-01" in content
    assert "AMS/A-01-01" in content
    for secret in ("RTM", "Rotterdam", "B-01", "Bin B one", "receipt of 7"):
        assert secret not in content
    assert "Created item SKU-2 Plate" in content  # items are master data everyone on the page sees

    exported = _csv(client, world["anna"])
    text = repr(exported)
    assert "AMS/A-01-01" in text
    for secret in ("RTM", "Rotterdam", "B-01", "receipt of 7"):
        assert secret not in text

    # Asking for the other warehouse by filter is refused, not answered.
    other = client.get(URL, {"warehouse": world["rtm"].pk})
    assert other.context["entries"] == [] and "warehouse" in other.context["form"].errors
    assert "receipt of 7" not in other.content.decode()
    assert client.get(URL, {"warehouse": world["rtm"].pk, "format": "csv"}).status_code == 400


def test_csv_export_has_the_same_entries_and_filters(client, world):
    client.force_login(world["otto"])
    shown = client.get(URL, {"kind": "ledger"}).context["entries"]
    rows = _csv(client, world["otto"], kind="ledger")
    assert list(rows[0]) == ["when", "user", "kind", "action", "object type", "object", "warehouse", "what", "changes"]
    assert [(r["user"], r["what"], r["warehouse"]) for r in rows] == [(e.who, e.what, e.warehouse) for e in shown]
    assert {r["kind"] for r in rows} == {"Ledger"}

    changed = _csv(client, world["otto"], sku="SKU-1", kind="master")
    renamed = next(r for r in changed if r["action"] == "changed")
    assert renamed["user"] == "anna" and renamed["changes"] == "name: Mug → Big mug"


def test_csv_export_neutralises_formula_cells(client, world):
    mallory = _user("@mallory", INVENTORY_MANAGER)
    evil = _save(
        Item(sku="=2+3", name="Evil", base_unit=UnitOfMeasure.objects.get(code="each"), valuation_method="average"),
        mallory,
    )
    evil.name = "-1"
    _save(evil, mallory)
    rows = _csv(client, world["otto"], user="@mallory")
    assert {r["user"] for r in rows} == {"'@mallory"}
    assert {r["object"] for r in rows} == {"'=2+3 Evil", "'=2+3 -1"}
    assert next(r for r in rows if r["action"] == "changed")["changes"] == "name: Evil → -1"
    for prefix in ("=", "+", "-", "@", "\t", "\r"):
        assert csv_safe(f"{prefix}cmd") == f"'{prefix}cmd"
    assert csv_safe("SKU-1") == "SKU-1" and csv_safe("") == ""


def test_deleted_objects_appear_with_their_last_state(client, world):
    location = _save(Location(warehouse=world["ams"], code="TMP", name="Temporary"), world["boss"])
    location._history_user = world["anna"]
    location.delete()
    newest = _entries(client, world["otto"])[0]
    assert (newest.who, newest.action, newest.object_label, newest.warehouse) == ("anna", "deleted", "AMS/TMP", "AMS")


def test_pages_split_the_list_without_gaps_and_query_count_stays_flat(client, world, django_assert_max_num_queries):
    mug = world["mug"]
    for n in range(120):
        mug.description = f"revision {n}"
        _save(mug, world["anna"])
    client.force_login(world["otto"])
    everything = _csv(client, world["otto"])
    # One query per history table (18 today: each app's audited models) plus 8 for the page,
    # the session, the user and the movements: a bound that grows with the tables, never the rows.
    with django_assert_max_num_queries(len(history_sources()) + 8):
        first = client.get(URL)
    assert len(first.context["entries"]) == 100 and first.context["next_page"] == 2
    second = client.get(URL, {"page": 2})
    assert second.context["previous_page"] == 1
    pages = first.context["entries"] + second.context["entries"]
    assert len(pages) == len(everything)
    assert [(e.who, e.what) for e in pages] == [(r["user"], r["what"]) for r in everything]
    assert first.context["entries"][0].changes[0].new == "revision 119"
    assert "page=2" in first.content.decode()


def test_access_needs_staff_and_the_view_movement_permission(client, world):
    assert client.get(URL).status_code == 302  # anonymous: to the login page
    clerk = _user("carl", WAREHOUSE_CLERK, staff=False)  # may view movements, is not staff
    client.force_login(clerk)
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    client.force_login(_user("sam"))  # staff, no permission
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv"}).status_code == 403
    client.force_login(world["otto"])
    assert client.get(URL).status_code == 200


def test_admin_index_links_the_audit_trail_for_those_who_may_open_it(client, world):
    client.force_login(world["otto"])
    assert 'href="/admin/audit-trail/"' in client.get(reverse("admin:index")).content.decode()
    client.force_login(_user("sam"))
    assert "/admin/audit-trail/" not in client.get(reverse("admin:index")).content.decode()


def test_the_page_writes_nothing(client, world):
    counts = (Movement.objects.count(), Item.history.count(), Location.history.count())
    client.force_login(world["boss"])
    content = client.get(URL).content.decode()
    # The only form that posts is the admin's logout button; the filters are a GET form.
    assert content.count('method="post"') == content.count('id="logout-form"') == 1
    assert client.post(URL, {"kind": "ledger"}).status_code == 405
    assert (Movement.objects.count(), Item.history.count(), Location.history.count()) == counts


def test_a_value_only_entry_shows_its_value_change_and_what_it_is_about(client, world):
    receipt = Movement.objects.get(item=world["mug"], kind="receipt")
    receipts_revalue(
        kind="landed_cost", shares=[(receipt, Decimal("1.5"))], reason_code="freight", actor=world["boss"]
    )  # all 5 still on hand: +1.50 to AMS
    newest = _entries(client, world["otto"])[0]
    about = f"about movement #{receipt.pk} ({receipt.pk})"  # and its reference line: the receipt
    assert newest.what == f"Posted landed cost of value +1.5 on SKU-1 into AMS/A-01-01, {about}; reason: freight"


def test_the_ledger_is_read_by_its_primary_key_not_by_posted_at(client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(world["otto"])
    with CaptureQueriesContext(connection) as queries:
        client.get(URL)
    ledger_reads = [q["sql"] for q in queries.captured_queries if 'FROM "stock_movement"' in q["sql"]]
    assert ledger_reads, "the page reads the ledger"
    for sql in ledger_reads:
        order = sql.rsplit("ORDER BY", 1)[1]
        assert '"stock_movement"."id" DESC' in order and "posted_at" not in order


def test_postings_that_ran_at_the_same_time_are_listed_in_id_order_in_their_place(client, world, monkeypatch):
    # Two postings at the same moment: the second to insert (the higher id) took its posted_at a
    # millisecond before the first one did (its transaction started first). The trail lists them
    # in id order (posting order), each with its own posted_at, next to each other, above what
    # came before them.
    first = stock_receive(item=world["mug"], location=world["a01"], quantity=Decimal(1), actor=world["anna"])
    earlier = first.posted_at - timedelta(milliseconds=1)
    with monkeypatch.context() as clock:  # every posting path (SQLite's, PostgreSQL's sets) asks timezone.now
        clock.setattr(timezone, "now", lambda: earlier)
        second = stock_receive(item=world["mug"], location=world["a01"], quantity=Decimal(2), actor=world["boss"])
    assert second.pk > first.pk and second.posted_at < first.posted_at

    entries = _entries(client, world["otto"])

    assert [(e.who, e.what) for e in entries[:3]] == [
        ("boss", "Posted receipt of 2 SKU-1 into AMS/A-01-01"),  # the higher id first
        ("anna", "Posted receipt of 1 SKU-1 into AMS/A-01-01"),
        ("boss", "Changed location RTM/B-01"),  # the world's last entry, before both
    ]
    assert (entries[0].when, entries[1].when) == (second.posted_at, first.posted_at)  # each its own time
    assert all(e.when <= second.posted_at for e in entries[2:])


def test_the_export_reads_the_ledger_in_id_chunks_without_gaps_or_repeats(client, world, monkeypatch):
    import reports.audit

    monkeypatch.setattr(reports.audit, "CHUNK", 2)
    for n in range(5):  # 5 more receipts: 7 movements in chunks of 2
        stock_receive(item=world["mug"], location=world["a01"], quantity=Decimal(n + 1), actor=world["boss"])
    rows = list(_csv(client, world["otto"], kind=LEDGER))

    # Newest first: the receipts of 5, 4, 3, 2, 1, then boss's 7 plates and anna's 5 mugs.
    assert [r["what"].split(" into ")[0] for r in rows] == [
        "Posted receipt of 5 SKU-1",
        "Posted receipt of 4 SKU-1",
        "Posted receipt of 3 SKU-1",
        "Posted receipt of 2 SKU-1",
        "Posted receipt of 1 SKU-1",
        "Posted receipt of 7 SKU-2",
        "Posted receipt of 5 SKU-1",
    ]
