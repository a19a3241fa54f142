"""Granting and revoking warehouse rights (issue 12, finding 1): only with "manage warehouse
access" in that warehouse, only rights the actor holds there, every change in the audit trail;
the same rule on guardian's group pages and in /admin/auth/; no API endpoint writes rights.

World: warehouses AMS and RTM, a bin in each, item WIDGET. Users:
- ``boss``: Administrator (the group only, not a superuser: global grants of every action);
- ``mia``: Inventory manager; AMS: view, post, manage access (no adjust); RTM: view only;
- ``carl``: Warehouse clerk, staff off; AMS: view.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.urls import reverse
from guardian.shortcuts import assign_perm, get_group_perms, get_user_perms
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.access import (
    WarehouseAccessDenied,
    warehouse_access_grant,
    warehouse_access_grantable,
    warehouse_access_revoke,
)
from catalog.models import Item, Location, UnitOfMeasure, Warehouse, WarehouseAccessChange
from catalog.permissions import WarehouseAction, WarehousePermissionDenied, warehouse_allows
from catalog.services import warehouse_save
from common import roles
from stock import services
from stock.models import Movement, StockLevel
from tests.stock.factories import ensure_virtual_locations

pytestmark = pytest.mark.django_db

VIEW, POST, ADJUST, APPROVE = (
    WarehouseAction.VIEW,
    WarehouseAction.POST,
    WarehouseAction.ADJUST,
    WarehouseAction.APPROVE,
)
MANAGE_ACCESS = WarehouseAction.MANAGE_ACCESS
# Model permissions of catalog.Warehouse an Inventory manager holds globally (role "catalog": ALL).
WAREHOUSE_MODEL_PERMS = {"add_warehouse", "change_warehouse", "delete_warehouse", "view_warehouse"}


def _user(username: str, role: str | None, *, staff: bool = True, **extra) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", None, is_staff=staff, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def _perms(user_or_group, warehouse: Warehouse) -> set[str]:
    if isinstance(user_or_group, Group):
        return set(get_group_perms(user_or_group, warehouse).values_list("codename", flat=True))
    return set(get_user_perms(user_or_group, warehouse).values_list("codename", flat=True))


def _fresh(user: User) -> User:
    """A new user object: permission answers are cached per object (one request's life)."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def world() -> dict:
    ensure_virtual_locations()
    ams = Warehouse.objects.create(code="AMS", name="Amsterdam")
    rtm = Warehouse.objects.create(code="RTM", name="Rotterdam")
    each = UnitOfMeasure.objects.get(code="each")
    widget = Item.objects.create(sku="WIDGET", name="Widget", base_unit=each, valuation_method="average")
    bins = {
        "AMS": Location.objects.create(warehouse=ams, code="BIN-1", barcode="LOC-AMS-1"),
        "RTM": Location.objects.create(warehouse=rtm, code="BIN-1", barcode="LOC-RTM-1"),
    }
    boss = _user("boss", roles.ADMINISTRATOR)
    mia = _user("mia", roles.INVENTORY_MANAGER)
    carl = _user("carl", roles.WAREHOUSE_CLERK, staff=False)
    for action in (VIEW, POST, MANAGE_ACCESS):
        assign_perm(f"catalog.{action}", mia, ams)
    assign_perm(f"catalog.{VIEW}", mia, rtm)
    assign_perm(f"catalog.{VIEW}", carl, ams)
    return {"ams": ams, "rtm": rtm, "widget": widget, "bins": bins, "boss": boss, "mia": mia, "carl": carl}


def _manage_user_url(warehouse: Warehouse, user: User) -> str:
    return reverse("admin:catalog_warehouse_permissions_manage_user", args=[warehouse.pk, user.pk])


def _manage_group_url(warehouse: Warehouse, group: Group) -> str:
    return reverse("admin:catalog_warehouse_permissions_manage_group", args=[warehouse.pk, group.pk])


def _api(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


# --- The attack of the issue -------------------------------------------------------------------------


def test_a_manager_with_only_view_cannot_grant_themselves_rights_and_the_api_still_refuses(client, world):
    mia, rtm = world["mia"], world["rtm"]
    adjustment = {
        "kind": "adjustment",
        "sku": "WIDGET",
        "quantity": "5",
        "warehouse": "RTM",
        "from_location": "BIN-1",
        "reason": "found",
    }
    assert _api(mia).post("/api/v1/movements/", adjustment, format="json").status_code == 403  # before

    client.force_login(mia)
    url = _manage_user_url(rtm, mia)
    assert client.get(url).status_code == 403
    response = client.post(url, {"permissions": [POST, ADJUST, APPROVE]})
    assert response.status_code == 403  # not the 302 "Permissions saved" of before

    assert _perms(mia, rtm) == {VIEW}  # nothing granted
    assert not WarehouseAccessChange.objects.exists()
    after = _api(mia).post("/api/v1/movements/", adjustment, format="json")
    assert after.status_code == 403
    assert not Movement.objects.filter(kind="adjustment").exists()


def test_without_manage_access_every_permissions_page_and_the_button_are_refused(client, world):
    mia, rtm, ams = world["mia"], world["rtm"], world["ams"]
    clerks = Group.objects.get(name=roles.WAREHOUSE_CLERK)
    client.force_login(mia)
    main = reverse("admin:catalog_warehouse_permissions", args=[rtm.pk])
    assert client.get(main).status_code == 403
    assert client.post(main, {"submit_manage_user": "1", "user": "mia"}).status_code == 403
    assert client.get(_manage_group_url(rtm, clerks)).status_code == 403
    assert client.post(_manage_group_url(rtm, clerks), {"permissions": [ADJUST]}).status_code == 403
    assert _perms(clerks, rtm) == set()

    rtm_page = client.get(reverse("admin:catalog_warehouse_change", args=[rtm.pk])).content.decode()
    ams_page = client.get(reverse("admin:catalog_warehouse_change", args=[ams.pk])).content.decode()
    assert "permissionslink" not in rtm_page
    assert "permissionslink" in ams_page  # mia may manage access in AMS


def test_a_warehouse_out_of_sight_or_a_garbled_id_is_a_404(client, world):
    hidden = Warehouse.objects.create(code="UTR", name="Utrecht")
    client.force_login(world["mia"])
    assert client.get(reverse("admin:catalog_warehouse_permissions", args=[hidden.pk])).status_code == 404
    assert client.get(f"/admin/catalog/warehouse/{world['ams'].pk}/permissions/user-manage/abc/").status_code == 404
    assert client.get(f"/admin/catalog/warehouse/{world['ams'].pk}/permissions/user-manage/99999/").status_code == 404
    assert client.get("/admin/catalog/warehouse/abc/permissions/").status_code == 404


# --- Only the rights the actor holds ------------------------------------------------------------------


def test_the_form_offers_only_the_rights_the_actor_holds_in_that_warehouse(client, world):
    client.force_login(world["mia"])
    response = client.get(_manage_user_url(world["ams"], world["carl"]))
    assert response.status_code == 200
    offered = {value for value, _ in response.context["form"].fields["permissions"].choices}
    # mia's object grants in AMS (view, post, manage access) and the model permissions of
    # Warehouse her role holds everywhere; not adjust, approve, receive or manage warehouse.
    assert offered == {VIEW, POST, MANAGE_ACCESS}  # never the model permissions of Warehouse
    assert response.context["form"].fields["permissions"].initial == [VIEW]  # carl's current right


def test_a_crafted_post_for_a_right_not_held_is_refused_and_writes_nothing(client, world):
    mia, carl, ams = world["mia"], world["carl"], world["ams"]
    client.force_login(mia)
    response = client.post(_manage_user_url(ams, carl), {"permissions": [VIEW, POST, ADJUST]})
    assert response.status_code == 400
    errors = response.context["form"].errors["permissions"]
    assert any("adjust_warehouse_stock" in error and "hold here yourself" in error for error in errors)
    assert _perms(carl, ams) == {VIEW}  # post was not granted either: all or nothing
    assert not WarehouseAccessChange.objects.exists()

    # and for herself (she lacks adjust in AMS): no way up
    response = client.post(_manage_user_url(ams, mia), {"permissions": [VIEW, POST, MANAGE_ACCESS, ADJUST]})
    assert response.status_code == 400
    assert _perms(mia, ams) == {VIEW, POST, MANAGE_ACCESS}


def test_a_manager_with_manage_access_grants_what_they_hold_only_in_that_warehouse(client, world):
    mia, carl, ams, rtm = world["mia"], world["carl"], world["ams"], world["rtm"]
    client.force_login(mia)
    response = client.post(_manage_user_url(ams, carl), {"permissions": [VIEW, POST]})
    assert response.status_code == 302
    assert _perms(carl, ams) == {VIEW, POST}
    assert _perms(carl, rtm) == set()
    change = WarehouseAccessChange.objects.get()
    assert (change.actor, change.kind, change.permission, change.warehouse, change.user, change.group) == (
        mia,
        "grant",
        POST,
        ams,
        carl,
        None,
    )
    assert (change.actor_name, change.grantee_name) == ("mia", "user carl")
    # the same in RTM is refused: she may not manage access there
    assert client.post(_manage_user_url(rtm, carl), {"permissions": [VIEW]}).status_code == 403
    assert _perms(carl, rtm) == set()


def test_revoking_is_limited_to_rights_the_actor_holds_and_others_stay(client, world):
    mia, carl, ams = world["mia"], world["carl"], world["ams"]
    assign_perm(f"catalog.{ADJUST}", carl, ams)  # given earlier by an Administrator
    client.force_login(mia)
    # The form shows adjust as "not yours to change"; saving with only view keeps it.
    page = client.get(_manage_user_url(ams, carl))
    assert "not yours to change: Can adjust stock in the warehouse" in page.content.decode()
    assert client.post(_manage_user_url(ams, carl), {"permissions": []}).status_code == 302
    assert _perms(carl, ams) == {ADJUST}  # view revoked (hers to revoke); adjust stays
    revoked = WarehouseAccessChange.objects.get()
    assert (revoked.kind, revoked.permission) == ("revoke", VIEW)

    with pytest.raises(WarehouseAccessDenied) as refused:
        warehouse_access_revoke(warehouse=ams, actor=_fresh(mia), user=carl, perms=[ADJUST])
    assert refused.value.refused == (ADJUST,)
    assert "adjust stock" in str(refused.value) and "AMS" in str(refused.value)
    assert _perms(carl, ams) == {ADJUST}
    assert WarehouseAccessChange.objects.count() == 1


def test_group_pages_follow_the_same_rule(client, world):
    mia, ams = world["mia"], world["ams"]
    clerks = Group.objects.get(name=roles.WAREHOUSE_CLERK)
    client.force_login(mia)
    assert client.post(_manage_group_url(ams, clerks), {"permissions": [ADJUST]}).status_code == 400
    assert _perms(clerks, ams) == set()
    assert client.post(_manage_group_url(ams, clerks), {"permissions": [POST]}).status_code == 302
    assert _perms(clerks, ams) == {POST}
    change = WarehouseAccessChange.objects.get()
    assert (change.group, change.user, change.grantee_name) == (clerks, None, "group Warehouse clerk")


def test_the_service_refuses_without_manage_access_and_unknown_rights(world):
    carl, ams = world["carl"], world["ams"]
    with pytest.raises(WarehouseAccessDenied) as refused:
        warehouse_access_grant(warehouse=ams, actor=_fresh(carl), user=carl, perms=[VIEW])
    assert isinstance(refused.value, WarehousePermissionDenied)  # doors map it like any refusal
    assert "grant and revoke rights" in str(refused.value)
    with pytest.raises(ValidationError):
        warehouse_access_grant(warehouse=ams, actor=None, user=carl, perms=["is_superuser"])
    with pytest.raises(ValidationError):
        warehouse_access_grant(warehouse=ams, actor=None, user=carl, group=Group.objects.first(), perms=[VIEW])
    assert warehouse_access_grantable(_fresh(carl), ams) == []
    assert not WarehouseAccessChange.objects.exists()


def test_manage_access_itself_and_model_rights_only_for_those_who_hold_them(world):
    mia, carl, ams, boss = world["mia"], world["carl"], world["ams"], world["boss"]
    # Make carl a local access manager in AMS with view only; he cannot pass on what he lacks.
    warehouse_access_grant(warehouse=ams, actor=_fresh(mia), user=carl, perms=[MANAGE_ACCESS])
    carl.is_staff = True
    carl.save(update_fields=["is_staff"])
    # his object grants in AMS; nothing more
    assert set(warehouse_access_grantable(_fresh(carl), ams)) == {VIEW, MANAGE_ACCESS}
    for right in (POST, ADJUST):
        with pytest.raises(WarehouseAccessDenied):
            warehouse_access_grant(warehouse=ams, actor=_fresh(carl), user=carl, perms=[right])
    assert _perms(carl, ams) == {VIEW, MANAGE_ACCESS}
    # An Administrator holds every right everywhere; model permissions are no warehouse right for anyone.
    assert set(warehouse_access_grantable(_fresh(boss), world["rtm"])) == set(WarehouseAction.ALL)
    for right in WAREHOUSE_MODEL_PERMS:
        with pytest.raises(ValidationError, match="No such right of a warehouse"):
            warehouse_access_grant(
                warehouse=ams, actor=_fresh(boss), group=Group.objects.get(name="Warehouse clerk"), perms=[right]
            )


# --- Positive path and the audit trail ----------------------------------------------------------------


def test_an_administrator_grants_the_grant_works_and_is_in_the_audit_trail_and_csv(client, world):
    boss, carl, rtm = world["boss"], world["carl"], world["rtm"]
    client.force_login(boss)
    assert "permissionslink" in client.get(reverse("admin:catalog_warehouse_change", args=[rtm.pk])).content.decode()
    response = client.post(_manage_user_url(rtm, carl), {"permissions": [VIEW, POST, ADJUST]}, follow=True)
    assert response.status_code == 200
    assert "In RTM: granted" in response.content.decode()
    assert _perms(carl, rtm) == {VIEW, POST, ADJUST}
    assert warehouse_allows(_fresh(carl), rtm, ADJUST)
    # the grant works: carl adjusts in RTM (+3 found: on hand 0 + 3 = 3)
    bin_rtm = world["bins"]["RTM"]
    services.stock_adjust(
        item=world["widget"], location=bin_rtm, quantity_delta=Decimal(3), reason_code="found", actor=_fresh(carl)
    )
    assert Movement.objects.filter(kind="adjustment", actor=carl).count() == 1
    assert StockLevel.objects.get(item=world["widget"], location=bin_rtm).on_hand == Decimal(3)

    entries = client.get("/admin/audit-trail/", {"kind": "access"}).context["entries"]
    # three rights granted, one row each, sorted by codename at the same moment
    assert [(e.who, e.action, e.object_label, e.warehouse, e.kind_label) for e in entries] == [
        ("boss", "granted", "user carl", "RTM", "Access rights")
    ] * 3
    adjust_line = "Granted 'Can adjust stock in the warehouse' (adjust_warehouse_stock) in RTM to user carl"
    assert adjust_line in [e.what for e in entries]

    text = b"".join(client.get("/admin/audit-trail/", {"kind": "access", "format": "csv"}).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3 and {r["kind"] for r in rows} == {"Access rights"}
    assert {r["user"] for r in rows} == {"boss"} and {r["warehouse"] for r in rows} == {"RTM"}
    assert {r["object"] for r in rows} == {"user carl"}

    # revoke adjust: one more row, "revoked ... from user carl"
    client.post(_manage_user_url(rtm, carl), {"permissions": [VIEW, POST]})
    newest = client.get("/admin/audit-trail/", {"kind": "access"}).context["entries"][0]
    assert (newest.action, newest.what.endswith("from user carl")) == ("revoked", True)
    assert _perms(carl, rtm) == {VIEW, POST}


def test_access_rows_are_filtered_and_scoped_in_the_audit_trail(client, world):
    boss, carl, mia = world["boss"], world["carl"], world["mia"]
    warehouse_access_grant(warehouse=world["rtm"], actor=_fresh(boss), user=carl, perms=[VIEW])
    warehouse_access_grant(warehouse=world["ams"], actor=_fresh(mia), user=carl, perms=[POST])
    client.force_login(boss)
    by_kind = {k: client.get("/admin/audit-trail/", {"kind": k}).context["entries"] for k in ("access", "ledger")}
    assert len(by_kind["access"]) == 2 and all(e.kind == "access" for e in by_kind["access"])
    assert not any(e.kind == "access" for e in by_kind["ledger"])
    assert [e.who for e in client.get("/admin/audit-trail/", {"user": "mia"}).context["entries"]] == ["mia"]
    only_rtm = client.get("/admin/audit-trail/", {"warehouse": world["rtm"].pk, "kind": "access"})
    assert [e.warehouse for e in only_rtm.context["entries"]] == ["RTM"]
    assert client.get("/admin/audit-trail/", {"sku": "WIDGET", "kind": "access"}).context["entries"] == []

    # A manager who sees only AMS does not see RTM's access changes.
    ams_only = _user("amy", roles.INVENTORY_MANAGER)
    assign_perm(f"catalog.{VIEW}", ams_only, world["ams"])
    client.force_login(ams_only)
    seen = client.get("/admin/audit-trail/", {"kind": "access"}).context["entries"]
    assert [e.warehouse for e in seen] == ["AMS"]


def test_the_access_change_admin_is_read_only(client, world):
    warehouse_access_grant(warehouse=world["ams"], actor=None, user=world["carl"], perms=[POST])
    change = WarehouseAccessChange.objects.get()
    assert change.actor_name == "(system)"
    client.force_login(world["boss"])
    assert client.get(reverse("admin:catalog_warehouseaccesschange_changelist")).status_code == 200
    assert client.get(reverse("admin:catalog_warehouseaccesschange_add")).status_code == 403
    url = reverse("admin:catalog_warehouseaccesschange_change", args=[change.pk])
    assert client.post(url, {"permission": VIEW}).status_code == 403
    assert client.post(reverse("admin:catalog_warehouseaccesschange_delete", args=[change.pk])).status_code == 403
    assert WarehouseAccessChange.objects.get().permission == POST


def test_granting_twice_or_revoking_what_is_not_held_changes_and_records_nothing_more(world):
    boss, carl, rtm = world["boss"], world["carl"], world["rtm"]
    assert warehouse_access_grant(warehouse=rtm, actor=_fresh(boss), user=carl, perms=[POST]) == [POST]
    assert warehouse_access_grant(warehouse=rtm, actor=_fresh(boss), user=carl, perms=[f"catalog.{POST}"]) == []
    assert warehouse_access_revoke(warehouse=rtm, actor=_fresh(boss), user=carl, perms=[ADJUST]) == []
    assert WarehouseAccessChange.objects.count() == 1  # the first grant only
    assert _perms(carl, rtm) == {POST}


def test_whoever_creates_a_warehouse_may_keep_it_and_the_grant_is_recorded(client, world):
    mia = world["mia"]  # Inventory manager: add_warehouse by role, no global warehouse action
    client.force_login(mia)

    response = client.post(
        reverse("admin:catalog_warehouse_add"),
        {"code": "UTR", "name": "Utrecht", "address": "", "time_zone": "Europe/Amsterdam", "active": "on"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    utr = Warehouse.objects.get(code="UTR")
    assert _perms(mia, utr) == {VIEW, WarehouseAction.MANAGE}  # not manage access: that stays above her
    assert client.get(reverse("admin:catalog_warehouse_change", args=[utr.pk])).status_code == 200
    assert list(WarehouseAccessChange.objects.filter(warehouse=utr).values_list("actor_name", "grantee_name")) == [
        ("(system)", "user mia"),
        ("(system)", "user mia"),
    ]


def test_an_administrator_creating_a_warehouse_needs_no_object_grant(world):
    boss = world["boss"]  # global grants of every warehouse action
    utr = warehouse_save(warehouse=Warehouse(code="UTR", name="Utrecht"), actor=boss)
    assert _perms(boss, utr) == set() and not WarehouseAccessChange.objects.filter(warehouse=utr).exists()
