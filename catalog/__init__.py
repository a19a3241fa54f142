"""Master data: categories, units, items and barcodes, warehouses and their locations."""
