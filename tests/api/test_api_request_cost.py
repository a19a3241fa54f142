"""What a request costs, and what the cheaper paths must not change (issue 13, 7; docs/api.md
"Where a sale's time goes"): authentication is one statement and caches nothing (a revoked
token, a deactivated user, a lockout count from the next request), a sale reads what is
available of all its items in one statement, its answer keeps the schema's shape, and the
bench's baseline view is never mounted by the product."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm, remove_perm
from rest_framework.authtoken.models import Token

from common import roles
from stock.api import PostingOutputSerializer
from tests.stock.factories import ledger_snapshot

SALES = "/api/v1/sales/"
WAREHOUSES = "/api/v1/warehouses/"


def test_a_deleted_token_is_refused_from_the_next_request(world, user, api):
    clerk = user(roles.WAREHOUSE_CLERK)
    client = api(clerk)
    assert client.get(WAREHOUSES).status_code == 200

    Token.objects.filter(user=clerk).delete()  # revoked (the admin, or create_api_token --rotate)
    refused = client.get(WAREHOUSES)

    assert refused.status_code == 401
    assert refused.json()["code"] == "authentication_failed"
    assert refused.json()["detail"] == "Invalid token."


def test_a_deactivated_users_token_is_refused_from_the_next_request(world, user, api):
    clerk = user(roles.WAREHOUSE_CLERK)
    client = api(clerk)
    assert client.get(WAREHOUSES).status_code == 200

    User.objects.filter(pk=clerk.pk).update(is_active=False)
    refused = client.get(WAREHOUSES)

    assert refused.status_code == 401
    assert refused.json()["detail"] == "User inactive or deleted."


def test_a_locked_address_refuses_every_token_from_it_and_no_other_address(world, user, api):
    """The lockout statement looks at the user's name OR the client address: failed sign-ins
    of other names from 192.0.2.7 (password spraying) lock that address for carol's token too."""
    carol = user(roles.WAREHOUSE_CLERK, username="carol")
    client = api(carol)
    for number in range(5):  # AXES_FAILURE_LIMIT = 5 by address alone
        Client().post("/floor/login/", {"username": f"guess-{number}", "password": "x"}, REMOTE_ADDR="192.0.2.7")

    from_locked = client.get(WAREHOUSES, REMOTE_ADDR="192.0.2.7")
    from_elsewhere = client.get(WAREHOUSES, REMOTE_ADDR="192.0.2.8")

    assert from_locked.status_code == 401
    assert from_locked.json()["code"] == "locked_out"
    assert from_elsewhere.status_code == 200


def test_authentication_is_one_statement_before_anything_else(world, admin_api):
    with CaptureQueriesContext(connection) as captured:
        response = admin_api.post(
            SALES, {"reference": "S-1", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 1}]}
        )

    assert response.status_code == 201, response.json()
    statements = [query["sql"] for query in captured.captured_queries]
    authentication = [sql for sql in statements if "authtoken_token" in sql or "axes_accessattempt" in sql]
    assert len(authentication) == 1  # token, user and axes' recent attempts together
    assert "authtoken_token" in authentication[0]
    assert "axes_accessattempt" in authentication[0]
    assert statements[0] == authentication[0]  # before anything else is read


def test_a_sale_of_two_items_reads_what_is_available_once(world, admin_api):
    body = {
        "reference": "S-2",
        "warehouse": "A",
        "lines": [
            {"sku": "WIDGET", "quantity": "3"},
            {"sku": "MILK", "quantity": "5"},
            {"sku": "WIDGET", "quantity": 1},
        ],
    }
    with CaptureQueriesContext(connection) as captured:
        response = admin_api.post(SALES, body)

    assert response.status_code == 201, response.json()
    # WIDGET in A: 10 (BIN-1) + 5 (BIN-2) = 15, sold 3 + 1 = 4 -> 11 available.
    # MILK in A: 4 (L-EARLY, BIN-2) + 6 (L-LATE, BIN-1) = 10, sold 5 -> 5 available.
    assert response.json()["lines"] == [
        {"sku": "WIDGET", "quantity": "3.0000", "available": "11.0000"},
        {"sku": "MILK", "quantity": "5.0000", "available": "5.0000"},
        {"sku": "WIDGET", "quantity": "1.0000", "available": "11.0000"},
    ]
    sums = [query["sql"] for query in captured.captured_queries if "SUM(" in query["sql"]]
    assert len(sums) == 1


def test_a_sales_answer_has_the_shape_of_its_schema(world, admin_api):
    """The answer is built without the serializer; the serializer (the schema) reads it back
    unchanged: the same keys, decimal strings with 4 places, the batch as a UUID string."""
    response = admin_api.post(
        SALES, {"reference": "S-3", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 2}]}
    )

    body = response.json()
    assert PostingOutputSerializer(body).data == body
    assert body["lines"][0]["quantity"] == "2.0000"


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_benchs_baseline_view_is_not_in_the_product(world, admin_api, method):
    assert getattr(admin_api, method)("/bench/baseline/", {"note": "x"}).status_code == 404


def test_a_sale_with_a_fresh_key_neither_looks_the_key_up_nor_sends_savepoints(world, admin_api):
    """The API keeps its answer under the key in one statement after the posting and answers
    repeated keys itself, so the posting does not look for earlier postings under it
    (``fresh_key``), and ``stock_post_batch`` opens no savepoint of its own around the
    posting. On PostgreSQL the one line is posted by ``stock_post_line_guarded`` with no
    savepoint at all (a refusal is undone inside its statement: tests/stock/test_posting_function.py)
    and the same statement reads what is available after it (no SUM of its own)."""
    # a first sale makes the customer's level rows
    admin_api.post(SALES, {"reference": "S-3b", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 1}]})
    with CaptureQueriesContext(connection) as captured:
        response = admin_api.post(
            SALES,
            {"reference": "S-4", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 1}]},
            HTTP_IDEMPOTENCY_KEY="fresh-1",
        )

    assert response.status_code == 201, response.json()
    # WIDGET in A: 10 (BIN-1) + 5 (BIN-2) = 15, sold 1 + 1 -> 13 available.
    assert response.json()["lines"] == [{"sku": "WIDGET", "quantity": "1.0000", "available": "13.0000"}]
    statements = [query["sql"] for query in captured.captured_queries]
    looked_up = [sql for sql in statements if "stock_movement" in sql and sql.lstrip().upper().startswith("SELECT")]
    assert looked_up == []
    # the answer is kept by ONE statement, the claim, after the posting: no claim-then-update
    store = [n for n, sql in enumerate(statements) if "stock_idempotentrequest" in sql]
    assert len(store) == 1 and statements[store[0]].startswith('INSERT INTO "stock_idempotentrequest"')
    opened = next(n for n, sql in enumerate(statements) if sql.startswith("SAVEPOINT"))
    between = statements[opened + 1 : store[0]]  # the API's transaction is a savepoint here only because the test's is
    assert any("stock_post_line" in sql or "stock_movement" in sql for sql in between)
    if connection.vendor == "postgresql":
        assert not any(sql.startswith(("SAVEPOINT", "RELEASE")) for sql in between)
        assert [sql.split("(")[0] for sql in between if "stock_post_line" in sql] == [
            "SELECT * FROM stock_post_line_guarded"
        ]
        assert not any("SUM(" in sql.upper() for sql in between)


def test_a_sales_warehouse_and_items_are_one_statement(world, admin_api):
    """The warehouse and the items of all lines (by SKU or barcode) are read together."""
    body = {
        "reference": "S-4b",
        "warehouse": "a",  # ignoring case
        "lines": [{"sku": "WIDGET", "quantity": "1"}, {"sku": "milk", "quantity": "1"}],
    }
    with CaptureQueriesContext(connection) as captured:
        response = admin_api.post(SALES, body)

    assert response.status_code == 201, response.json()
    assert [line["sku"] for line in response.json()["lines"]] == ["WIDGET", "MILK"]
    reads = [
        q["sql"] for q in captured.captured_queries if "catalog_item" in q["sql"] or "catalog_warehouse" in q["sql"]
    ]
    reads = [sql for sql in reads if sql.lstrip().upper().startswith("SELECT") and "stock_stocklevel" not in sql]
    assert len(reads) == 1
    assert "catalog_warehouse" in reads[0] and "catalog_item" in reads[0]


@pytest.mark.parametrize(
    ("warehouse", "lines", "code", "field"),
    [
        ("NOPE", [{"sku": "NO-SUCH", "quantity": 1}], "unknown_warehouse", "warehouse"),  # the warehouse first
        (
            "A",
            [{"sku": "WIDGET", "quantity": 1}, {"sku": "NO-1", "quantity": 1}, {"sku": "NO-2", "quantity": 1}],
            "unknown_sku",
            1,
        ),
        (
            "A",
            [{"sku": "NO-1", "quantity": 1, "location": "NO-BIN"}],
            "unknown_location",
            0,
        ),  # a line's bin before its SKU
    ],
)
def test_a_sales_look_ups_refuse_in_the_order_of_the_document(world, admin_api, warehouse, lines, code, field):
    before = ledger_snapshot()

    response = admin_api.post(SALES, {"reference": "S-4c", "warehouse": warehouse, "lines": lines})

    assert response.status_code in (400, 404), response.json()
    body = response.json()
    assert body["code"] == code, body
    if isinstance(field, int):
        assert body.get("line") == field, body
    assert ledger_snapshot() == before


SALE_OF_ONE = {"reference": "S-5", "warehouse": "A", "lines": [{"sku": "WIDGET", "quantity": 1}]}


def _permission_reads(statements: list[str]) -> tuple[list[str], list[str]]:
    model = [sql for sql in statements if "auth_permission" in sql and "guardian_" not in sql]
    objects = [sql for sql in statements if "guardian_" in sql]
    return model, objects


def test_a_clerks_model_permissions_and_warehouse_grants_are_one_statement_each(world, user, api):
    """Django reads a user's and their groups' permissions in two statements and guardian a
    warehouse's user and group grants in two: here each pair is one (common/backends.py,
    catalog/permissions.py ``_OneQueryChecker``), read once per request."""
    client = api(user(roles.WAREHOUSE_CLERK))
    with CaptureQueriesContext(connection) as captured:
        response = client.post(SALES, SALE_OF_ONE)

    assert response.status_code == 201, response.json()
    model, objects = _permission_reads([query["sql"] for query in captured.captured_queries])
    assert len(model) == 1 and "auth_user_user_permissions" in model[0] and "auth_user_groups" in model[0]
    assert len(objects) == 1 and "UNION" in objects[0].upper()
    assert "guardian_userobjectpermission" in objects[0] and "guardian_groupobjectpermission" in objects[0]


def test_the_plain_sql_permission_reads_answer_what_django_and_guardian_answer(world, user):
    """``OneQueryModelBackend`` and ``_OneQueryChecker`` read in plain SQL what Django's
    ``ModelBackend`` and guardian's ``ObjectPermissionChecker`` read through querysets: the
    same permissions for a user with none, with their own only, with a group's only, with both,
    and the same warehouse grants given to the user, to a group of theirs, to a group of
    someone else and on another warehouse."""
    from django.contrib.auth.backends import ModelBackend
    from guardian.core import ObjectPermissionChecker

    from catalog.permissions import _OneQueryChecker
    from common.backends import OneQueryModelBackend

    a, b = world["A"]["warehouse"], world["B"]["warehouse"]
    nobody = User.objects.create_user("nobody-at-all")
    own = User.objects.create_user("own-only")
    own.user_permissions.add(Permission.objects.get(codename="view_item"))
    assign_perm("catalog.adjust_warehouse_stock", own, b)  # a user's own grant on B
    clerk = user(roles.WAREHOUSE_CLERK)  # the role's group; its own grants on A
    both = user(roles.WAREHOUSE_CLERK, username="clerk-and-more")
    both.user_permissions.add(Permission.objects.get(codename="view_item"))  # also the group's: counted once
    viewers, others = Group.objects.create(name="B viewers"), Group.objects.create(name="Others")
    assign_perm("catalog.view_warehouse_stock", viewers, b)
    assign_perm("catalog.manage_warehouse", others, b)  # a group the users are not in
    both.groups.add(viewers)
    nobody.groups.add(others)
    nobody.groups.remove(others)

    answers = []
    for person in (nobody, own, clerk, both):
        mine, djangos = User.objects.get(pk=person.pk), User.objects.get(pk=person.pk)
        model = OneQueryModelBackend().get_all_permissions(mine)
        assert model == ModelBackend().get_all_permissions(djangos), person
        for warehouse in (a, b):
            grants = sorted(_OneQueryChecker(mine).get_perms(warehouse))
            assert grants == sorted(ObjectPermissionChecker(djangos).get_perms(warehouse)), (person, warehouse)
            answers.append((person.username, warehouse.code, grants))
        answers.append((person.username, "model", len(model) > 0))
    # the cases are real: each kind of grant is seen by both
    assert ("own-only", "B", ["adjust_warehouse_stock"]) in answers
    assert ("clerk-and-more", "B", ["view_warehouse_stock"]) in answers
    assert ("nobody-at-all", "B", []) in answers and ("nobody-at-all", "model", False) in answers
    assert ("own-only", "model", True) in answers
    assert any(name == "warehouse_clerk" and code == "A" and grants for name, code, grants in answers)


def test_a_clerk_refused_in_another_warehouse_still_is(world, user, api):
    client = api(user(roles.WAREHOUSE_CLERK))  # granted warehouse A only
    before = ledger_snapshot()

    response = client.post(SALES, {**SALE_OF_ONE, "warehouse": "B"})

    assert response.status_code == 403, response.json()
    assert ledger_snapshot() == before


def _revoke_the_role_permission(world: dict, clerk: User) -> None:
    Group.objects.get(name=roles.WAREHOUSE_CLERK).permissions.remove(Permission.objects.get(codename="add_movement"))


def _revoke_the_warehouse_grant(world: dict, clerk: User) -> None:
    remove_perm("catalog.post_warehouse_movements", clerk, world["A"]["warehouse"])


@pytest.mark.parametrize(
    ("revoke", "message"),
    [
        (_revoke_the_role_permission, "lacks the permission stock.add_movement"),  # the model permission, named
        (_revoke_the_warehouse_grant, "may not receive, move, issue and scrap in warehouse A"),
    ],
)
def test_a_revoked_right_counts_from_the_next_request(world, user, api, revoke, message):
    clerk = user(roles.WAREHOUSE_CLERK)
    client = api(clerk)
    assert client.post(SALES, SALE_OF_ONE).status_code == 201

    revoke(world, clerk)
    before = ledger_snapshot()
    refused = client.post(SALES, {**SALE_OF_ONE, "reference": "S-6"})

    assert refused.status_code == 403, refused.json()
    assert message in refused.json()["detail"]
    assert ledger_snapshot() == before


def test_a_grant_to_the_clerks_group_counts_like_one_to_the_clerk(world, user, api):
    """The union's second half: a warehouse grant held through a group."""
    clerk = user(None, username="grouped")
    group = Group.objects.create(name="Shop B")
    clerk.groups.add(group, Group.objects.get(name=roles.WAREHOUSE_CLERK))
    assign_perm("catalog.post_warehouse_movements", group, world["B"]["warehouse"])

    response = api(clerk).post(SALES, {**SALE_OF_ONE, "warehouse": "B"})

    assert response.status_code == 201, response.json()
