"""sitter links: the sitter's web check-in for a session, found by the hash of its token

SPEC §1: sitters check in by SMS or via a web link. The link is texted when the session's window
opens; only the SHA-256 of its random token is stored (unique: it is how the page finds the session).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("dose_sessions", sa.Column("sitter_link_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_dose_sessions_sitter_link_hash", "dose_sessions", ["sitter_link_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_dose_sessions_sitter_link_hash", table_name="dose_sessions")
    with op.batch_alter_table("dose_sessions") as batch:
        batch.drop_column("sitter_link_hash")
