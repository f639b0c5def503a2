"""Compliance reports: the dispensing log, reconciliation, dose records, escalation statistics,
and the audit chain's state, read-only, filterable and exportable as CSV (SPEC §8).

A room of its own, high in the house like `inbound/`: reports read every other room's tables,
while `audit/` sits low (every room writes audit events), so reports inside `audit/` would be an
import circle. Reports are computed by the database (aggregates, keyset pages, streamed cursors),
never by loading a whole table into Python.
"""
