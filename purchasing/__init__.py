"""Purchasing: suppliers, purchase orders, receipts, reorder policies (a later issue)."""
