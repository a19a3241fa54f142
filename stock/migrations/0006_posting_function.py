"""The single-line posting function on PostgreSQL (docs/ledger.md, "One round trip").

``stock_post_line`` does in one statement what ``stock.services._post`` does for one line that
reverses nothing: lock both levels in location order and then the valuations in warehouse order
(the global lock order), or, when a row is missing, fail with SQLSTATE IV002 so that the caller
calls again with ``p_create_missing``, which creates the missing rows before taking any lock;
refuse a take beyond what is available (SQLSTATE IV001, DETAIL = the available
quantity), price the line (moving average or FIFO layers), insert the movement, its FIFO layers
and consumptions, and update the levels and valuations.
``stock.services`` calls it only for lines the Python path would post the same way, and
``tests/stock/test_posting_function.py`` posts the same sequences through both and compares
every row. Other databases (SQLite) have no such function and always take the Python path.

A change of the posting rules means a new migration with ``CREATE OR REPLACE FUNCTION``: this
text is the function as it was at this migration.
"""

from django.db import migrations

MONEY_ROUND = """
CREATE OR REPLACE FUNCTION stock_money_round(x numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- Decimal.quantize(Decimal("0.0001")) under Python's default context: ties to even.
    -- Not STRICT (NULL gives NULL anyway), so the planner inlines it into the caller's
    -- expressions instead of running a SQL function per call.
    SELECT CASE
        WHEN x * 10000 - floor(x * 10000) = 0.5
            THEN (floor(x * 10000) + abs(mod(floor(x * 10000), 2))) * 0.0001
        ELSE round(x, 4)
    END
$$;
"""

POST_LINE = """
CREATE OR REPLACE FUNCTION stock_post_line(
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
    p_create_missing boolean,
    OUT movement_id bigint,
    OUT movement_unit_cost numeric,
    OUT movement_total_cost numeric
)
LANGUAGE plpgsql AS $$
DECLARE
    found_rows integer;
    locked_rows integer := 0;
    wanted_valuations integer := (p_source_warehouse IS NOT NULL)::integer
        + (p_destination_warehouse IS NOT NULL AND p_destination_warehouse IS DISTINCT FROM p_source_warehouse)::integer;
    level stock_stocklevel%ROWTYPE;
    source_level stock_stocklevel%ROWTYPE;
    destination_level_id bigint;
    valuation stock_itemvaluation%ROWTYPE;
    source_valuation stock_itemvaluation%ROWTYPE;
    destination_valuation stock_itemvaluation%ROWTYPE;
    in_stock numeric;
    cost numeric;
    -- FIFO: the layers taken from (consumptions written after the movement), and the layer
    -- beyond them when negative stock is allowed
    layer stock_costlayer%ROWTYPE;
    need numeric;
    taken numeric;
    layer_value numeric;
    last_unit numeric;
    consumed_layers bigint[] := '{}';
    consumed_quantities numeric[] := '{}';
    consumed_values numeric[] := '{}';
    negative_quantity numeric := 0;
    negative_value numeric;
    negative_unit numeric;
BEGIN
    -- 1. Only when asked (the first posting of an item at a place; see IV002 below): create the
    --    missing rows before any lock is taken, in the lock order. Levels and valuations are
    --    never deleted, so the rows seen here are there to lock below.
    IF p_create_missing THEN
        IF p_lot IS NULL THEN
            SELECT count(*) INTO found_rows FROM stock_stocklevel
            WHERE item_id = p_item AND location_id IN (p_source, p_destination) AND lot_id IS NULL;
        ELSE
            SELECT count(*) INTO found_rows FROM stock_stocklevel
            WHERE item_id = p_item AND location_id IN (p_source, p_destination) AND lot_id = p_lot;
        END IF;
        IF found_rows < 2 THEN
            INSERT INTO stock_stocklevel (item_id, location_id, lot_id, on_hand, reserved, allow_negative)
            SELECT p_item, location, p_lot, 0, 0, FALSE
            FROM unnest(ARRAY[least(p_source, p_destination), greatest(p_source, p_destination)]) AS location
            ON CONFLICT DO NOTHING;
        END IF;
        IF wanted_valuations > 0 THEN
            SELECT count(*) INTO found_rows FROM stock_itemvaluation
            WHERE item_id = p_item AND warehouse_id IN (p_source_warehouse, p_destination_warehouse);
            IF found_rows < wanted_valuations THEN
                INSERT INTO stock_itemvaluation (item_id, warehouse_id, quantity, value, last_unit_cost)
                SELECT p_item, warehouse, 0, 0, 0
                FROM unnest(ARRAY[least(p_source_warehouse, p_destination_warehouse),
                                  greatest(p_source_warehouse, p_destination_warehouse)]) AS warehouse
                WHERE warehouse IS NOT NULL
                ON CONFLICT DO NOTHING;
            END IF;
        END IF;
    END IF;

    -- 2. Lock the two levels in location order (same item and lot), then check the take.
    IF p_lot IS NULL THEN
        FOR level IN SELECT * FROM stock_stocklevel
            WHERE item_id = p_item AND location_id IN (p_source, p_destination) AND lot_id IS NULL
            ORDER BY location_id FOR UPDATE
        LOOP
            IF level.location_id = p_source THEN source_level := level; ELSE destination_level_id := level.id; END IF;
            locked_rows := locked_rows + 1;
        END LOOP;
    ELSE
        FOR level IN SELECT * FROM stock_stocklevel
            WHERE item_id = p_item AND location_id IN (p_source, p_destination) AND lot_id = p_lot
            ORDER BY location_id FOR UPDATE
        LOOP
            IF level.location_id = p_source THEN source_level := level; ELSE destination_level_id := level.id; END IF;
            locked_rows := locked_rows + 1;
        END LOOP;
    END IF;
    IF locked_rows < 2 THEN
        -- A row is missing: roll back (which releases the locks taken) and be called again
        -- with p_create_missing, as stock.services._post does with _MissingRows.
        RAISE EXCEPTION USING ERRCODE = 'IV002', MESSAGE = 'missing stock level';
    END IF;
    IF source_level.on_hand - p_quantity - (source_level.reserved - p_reserved) < 0
       AND (source_level.reserved - p_reserved > 0 OR NOT p_source_may_go_negative) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'IV001',
            MESSAGE = 'insufficient stock',
            DETAIL = (source_level.on_hand - source_level.reserved + p_reserved)::text;
    END IF;

    -- 3. Lock the valuations in warehouse order (their locks guard the FIFO layers) and price
    --    the line: moving average, or the oldest FIFO layers.
    IF wanted_valuations > 0 THEN
        FOR valuation IN SELECT * FROM stock_itemvaluation
            WHERE item_id = p_item AND warehouse_id IN (p_source_warehouse, p_destination_warehouse)
            ORDER BY warehouse_id FOR UPDATE
        LOOP
            IF valuation.warehouse_id = p_source_warehouse THEN source_valuation := valuation; END IF;
            IF valuation.warehouse_id = p_destination_warehouse THEN destination_valuation := valuation; END IF;
            locked_rows := locked_rows + 1;
        END LOOP;
        IF locked_rows < 2 + wanted_valuations THEN
            RAISE EXCEPTION USING ERRCODE = 'IV002', MESSAGE = 'missing valuation';
        END IF;
    END IF;
    IF p_source_warehouse = p_destination_warehouse THEN
        -- Inside one warehouse no value moves: quantity x average cost, for information.
        cost := stock_money_round(p_quantity * CASE WHEN source_valuation.quantity > 0
            THEN stock_money_round(source_valuation.value / source_valuation.quantity)
            ELSE source_valuation.last_unit_cost END);
    ELSE
        IF p_source_warehouse IS NOT NULL THEN
            last_unit := CASE
                WHEN source_valuation.quantity > 0
                    THEN stock_money_round(source_valuation.value / source_valuation.quantity)
                WHEN source_valuation.last_unit_cost <> 0 THEN source_valuation.last_unit_cost
                ELSE p_standard_cost END;
            IF p_fifo THEN
                -- The oldest layers first; a layer taken whole gives its whole remaining value.
                need := p_quantity;
                cost := 0;
                FOR layer IN SELECT * FROM stock_costlayer
                    WHERE item_id = p_item AND warehouse_id = p_source_warehouse AND remaining_quantity > 0
                    ORDER BY received_at, id
                LOOP
                    EXIT WHEN need = 0;
                    taken := least(need, layer.remaining_quantity);
                    layer_value := CASE WHEN taken = layer.remaining_quantity THEN layer.remaining_value
                        ELSE stock_money_round(taken * layer.unit_cost) END;
                    UPDATE stock_costlayer
                    SET remaining_quantity = remaining_quantity - taken, remaining_value = remaining_value - layer_value
                    WHERE id = layer.id;
                    consumed_layers := consumed_layers || layer.id;
                    consumed_quantities := consumed_quantities || taken;
                    consumed_values := consumed_values || layer_value;
                    cost := cost + layer_value;
                    need := need - taken;
                    last_unit := layer.unit_cost;
                END LOOP;
                IF need > 0 THEN  -- beyond the layers, where negative stock is allowed
                    negative_quantity := need;
                    negative_unit := last_unit;
                    negative_value := stock_money_round(need * last_unit);
                    cost := cost + negative_value;
                END IF;
            ELSE
                -- Taking all that is there takes the whole value: no rounding residue stays.
                in_stock := least(p_quantity, greatest(source_valuation.quantity, 0));
                IF in_stock = source_valuation.quantity AND in_stock > 0 THEN
                    cost := source_valuation.value;
                ELSIF in_stock > 0 THEN
                    cost := stock_money_round(source_valuation.value * in_stock / source_valuation.quantity);
                ELSE
                    cost := 0;
                END IF;
                IF p_quantity > in_stock THEN  -- beyond the stock, where negative stock is allowed
                    cost := cost + stock_money_round((p_quantity - in_stock) * last_unit);
                END IF;
            END IF;
            UPDATE stock_itemvaluation SET quantity = quantity - p_quantity, value = value - cost
            WHERE id = source_valuation.id;
        END IF;
        IF p_destination_warehouse IS NOT NULL THEN
            IF cost IS NULL THEN
                cost := coalesce(p_total_cost, stock_money_round(p_quantity * coalesce(p_unit_cost, CASE
                    WHEN destination_valuation.quantity > 0
                        THEN stock_money_round(destination_valuation.value / destination_valuation.quantity)
                    WHEN destination_valuation.last_unit_cost <> 0 THEN destination_valuation.last_unit_cost
                    ELSE p_standard_cost END)));
            END IF;
            UPDATE stock_itemvaluation
            SET quantity = quantity + p_quantity, value = value + cost,
                last_unit_cost = stock_money_round(cost / p_quantity)
            WHERE id = destination_valuation.id;
        END IF;
        IF cost IS NULL THEN  -- between two virtual locations: no warehouse value changes
            cost := stock_money_round(p_quantity * coalesce(p_unit_cost, 0));
        END IF;
    END IF;

    -- 4. The movement, its FIFO layers and consumptions, then the levels (allow_negative from the warehouse policy, or kept
    --    while a level that already was negative is being filled).
    movement_total_cost := cost;
    movement_unit_cost := stock_money_round(cost / p_quantity);
    INSERT INTO stock_movement (
        batch, batch_line, item_id, lot_id, quantity, source_id, destination_id, kind, reason_code, note,
        unit_cost, total_cost, reference_type, reference_id, reference_line, actor_id, occurred_at,
        posted_at, idempotency_key, reverses_id
    ) VALUES (
        p_batch, 1, p_item, p_lot, p_quantity, p_source, p_destination, p_kind, p_reason_code, p_note,
        movement_unit_cost, movement_total_cost, p_reference_type, p_reference_id, p_reference_line, p_actor,
        p_occurred_at, p_posted_at, p_idempotency_key, NULL
    ) RETURNING id INTO movement_id;
    IF cardinality(consumed_layers) > 0 THEN
        INSERT INTO stock_costlayerconsumption (movement_id, layer_id, quantity, value)
        SELECT movement_id, consumed.layer_id, consumed.quantity, consumed.value
        FROM unnest(consumed_layers, consumed_quantities, consumed_values) AS consumed(layer_id, quantity, value);
    END IF;
    IF negative_quantity > 0 THEN
        INSERT INTO stock_costlayer (
            item_id, warehouse_id, movement_id, received_at, unit_cost, quantity, remaining_quantity, remaining_value
        ) VALUES (
            p_item, p_source_warehouse, movement_id, p_occurred_at, negative_unit, 0, -negative_quantity, -negative_value
        );
    END IF;
    IF p_fifo AND p_destination_warehouse IS NOT NULL AND p_destination_warehouse IS DISTINCT FROM p_source_warehouse THEN
        INSERT INTO stock_costlayer (
            item_id, warehouse_id, movement_id, received_at, unit_cost, quantity, remaining_quantity, remaining_value
        ) VALUES (
            p_item, p_destination_warehouse, movement_id, p_occurred_at, movement_unit_cost, p_quantity, p_quantity, cost
        );
    END IF;
    UPDATE stock_stocklevel
    SET on_hand = on_hand - p_quantity, reserved = reserved - p_reserved,
        allow_negative = p_source_may_go_negative OR on_hand - p_quantity < 0
    WHERE id = source_level.id;
    UPDATE stock_stocklevel
    SET on_hand = on_hand + p_quantity, allow_negative = p_destination_may_go_negative OR on_hand + p_quantity < 0
    WHERE id = destination_level_id;
END
$$;
"""

DROP = (
    """DROP FUNCTION IF EXISTS stock_post_line(
        uuid, bigint, bigint, numeric, numeric, bigint, bigint, boolean, bigint, bigint, boolean, varchar, varchar,
        text, numeric, numeric, numeric, varchar, varchar, varchar, integer, timestamptz, timestamptz, varchar,
        boolean, boolean
    )""",
    "DROP FUNCTION IF EXISTS stock_money_round(numeric)",
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(MONEY_ROUND, params=None)
        schema_editor.execute(POST_LINE, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("stock", "0005_adjustment_request")]

    operations = [migrations.RunPython(create, drop)]
