"""Dispensing with lots, mailed shipments, receipt, staged release, the inventory ledger, losses."""
