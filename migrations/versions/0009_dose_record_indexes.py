"""dose record indexes: dose sessions by the time their dose was taken, ledger lines by session

The compliance dose-record list filters by dose date (`dose_sessions.dosed_at`); without an
index every filtered page would scan every session ever booked. Each record's lots, and the
list's lot filter, are the ledger's dose-taken lines of the session (`dose_session_id`).
The ledger's (patient_id, lot_number) index goes: 0008's reconciliation index begins with the
same two columns and serves every query it served, and each index costs every ledger insert.

Revision ID: 0009
Revises: 0008
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dose_sessions_dosed_at", "dose_sessions", ["dosed_at"])
    op.create_index("ix_inventory_movements_dose_session_id", "inventory_movements", ["dose_session_id"])
    op.drop_index("ix_inventory_movements_patient_id_lot_number", table_name="inventory_movements")


def downgrade() -> None:
    op.create_index("ix_inventory_movements_patient_id_lot_number", "inventory_movements",
                    ["patient_id", "lot_number"])
    op.drop_index("ix_inventory_movements_dose_session_id", table_name="inventory_movements")
    op.drop_index("ix_dose_sessions_dosed_at", table_name="dose_sessions")
