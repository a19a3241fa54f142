"""``stock_post_line_guarded``: one statement that posts one line through ``stock_post_line``
without the caller's savepoint (docs/ledger.md, "One round trip"; docs/api.md, third round).

It calls ``stock_post_line`` (migration 0006, as changed by 0012; unchanged here) inside a
PL/pgSQL exception block, which is a subtransaction of the server's own: whatever the call did,
its writes and the row locks it took, is undone when it raises, and the caller's transaction
stays usable, as it did with the savepoint and its release that ``stock.services.function`` sent
around the call (two round trips). What the Python side did on each raise is done here or
answered as an ``outcome``:

- IV002 (a level or valuation row is missing): call again with ``p_create_missing``, which
  creates the missing rows before taking any lock (the failed call's locks went with its
  subtransaction): the first posting of an item at a place is one statement too;
- IV001 (too little available): outcome ``insufficient``, ``detail`` the available quantity;
- IV003 (a valuation pool is or would go short: only the Python path values that): ``declined``;
- an integrity violation (the movement's unique idempotency key, taken by a racing retry):
  ``integrity``, ``detail`` its message, for the caller to answer with the first posting.

Any other error propagates (and ends the caller's transaction, as any database error there would).

With ``p_available_warehouse``, ``available`` is the available quantity (on hand - reserved) of
the item in that warehouse's internal locations after the posting, read in the same statement:
what a sale answers (``stock.selectors.stock_available_by_item`` reads the same sum).
"""

from django.db import migrations

POST_LINE_GUARDED = """
CREATE OR REPLACE FUNCTION stock_post_line_guarded(
    p_batch uuid,
    p_item bigint,
    p_lot bigint,
    p_quantity numeric,
    p_reserved numeric,
    p_source bigint,
    p_source_warehouse bigint,
    p_source_may_go_negative boolean,
    p_destination bigint,
    p_destination_warehouse bigint,
    p_destination_may_go_negative boolean,
    p_kind varchar,
    p_reason_code varchar,
    p_note text,
    p_unit_cost numeric,
    p_total_cost numeric,
    p_standard_cost numeric,
    p_reference_type varchar,
    p_reference_id varchar,
    p_reference_line varchar,
    p_actor integer,
    p_occurred_at timestamptz,
    p_posted_at timestamptz,
    p_idempotency_key varchar,
    p_fifo boolean,
    p_available_warehouse bigint,
    OUT outcome text,
    OUT movement_id bigint,
    OUT movement_unit_cost numeric,
    OUT movement_total_cost numeric,
    OUT detail text,
    OUT available numeric
)
LANGUAGE plpgsql AS $$
DECLARE
    create_missing boolean := FALSE;
BEGIN
    LOOP
        BEGIN
            SELECT posted.movement_id, posted.movement_unit_cost, posted.movement_total_cost
            INTO movement_id, movement_unit_cost, movement_total_cost
            FROM stock_post_line(
                p_batch, p_item, p_lot, p_quantity, p_reserved, p_source, p_source_warehouse,
                p_source_may_go_negative, p_destination, p_destination_warehouse, p_destination_may_go_negative,
                p_kind, p_reason_code, p_note, p_unit_cost, p_total_cost, p_standard_cost, p_reference_type,
                p_reference_id, p_reference_line, p_actor, p_occurred_at, p_posted_at, p_idempotency_key, p_fifo,
                create_missing
            ) AS posted;
            outcome := 'posted';
            EXIT;
        EXCEPTION
            WHEN SQLSTATE 'IV002' THEN
                -- A row is missing: the call's locks are released with its subtransaction; call
                -- again creating the missing rows before any lock. Rows are never deleted, so
                -- a second IV002 would be a bug: let it through.
                IF create_missing THEN
                    RAISE;
                END IF;
                create_missing := TRUE;
            WHEN SQLSTATE 'IV001' THEN
                outcome := 'insufficient';
                GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
                RETURN;
            WHEN SQLSTATE 'IV003' THEN
                outcome := 'declined';
                RETURN;
            WHEN integrity_constraint_violation THEN
                outcome := 'integrity';
                detail := SQLERRM;
                RETURN;
        END;
    END LOOP;
    IF p_available_warehouse IS NOT NULL THEN
        SELECT coalesce(sum(sl.on_hand - sl.reserved), 0) INTO available
        FROM stock_stocklevel sl JOIN catalog_location loc ON loc.id = sl.location_id
        WHERE sl.item_id = p_item AND loc.kind = 'internal' AND loc.warehouse_id = p_available_warehouse;
    END IF;
END
$$;
"""

DROP = """DROP FUNCTION IF EXISTS stock_post_line_guarded(
    uuid, bigint, bigint, numeric, numeric, bigint, bigint, boolean, bigint, bigint, boolean, varchar, varchar,
    text, numeric, numeric, numeric, varchar, varchar, varchar, integer, timestamptz, timestamptz, varchar,
    boolean, bigint
)"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POST_LINE_GUARDED, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("stock", "0013_short_picks")]

    operations = [migrations.RunPython(create, drop)]
