"""audit chain: event MACs, seals, append-only triggers

Every audit event gets a nonce and a MAC (written by `record()` at insert) and, on PostgreSQL,
the id of its inserting transaction (a column default). `audit_seals` holds the chain. On
PostgreSQL, triggers refuse UPDATE, DELETE and TRUNCATE of both tables; SQLite has no such guard
(`audit verify` still detects any change).

Events written before this revision are signed here with AUDIT_HMAC_KEY (from the environment,
as the app reads it) and are sealed first, in id order, by the sealer.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:42:15.428388
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("audit_events", "audit_seals")


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nonce', sa.LargeBinary(length=16), nullable=True))
        batch_op.add_column(sa.Column('mac', sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column('txid', sa.BigInteger(), nullable=True))

    _sign_existing_events(postgresql)

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.alter_column('nonce', existing_type=sa.LargeBinary(length=16), nullable=False)
        batch_op.alter_column('mac', existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.create_index('ix_audit_events_txid_id', ['txid', 'id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_audit_events_nonce'), ['nonce'])

    op.create_table('audit_seals',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['audit_events.id'], name=op.f('fk_audit_seals_event_id_audit_events')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_seals')),
    sa.UniqueConstraint('event_id', name=op.f('uq_audit_seals_event_id'))
    )

    if postgresql:
        # The inserting transaction's id: the sealer takes only events of transactions that have ended.
        op.execute("ALTER TABLE audit_events ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)")
        op.execute("""
            CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$""")
        for table in APPEND_ONLY_TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION audit_refuse_change()")

    op.drop_table('audit_seals')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_events_nonce'), type_='unique')
        batch_op.drop_index('ix_audit_events_txid_id')
        batch_op.drop_column('txid')
        batch_op.drop_column('mac')
        batch_op.drop_column('nonce')


def _sign_existing_events(postgresql: bool) -> None:
    """Give events written before the chain existed their nonce and MAC (and txid 0 on
    PostgreSQL, so they are sealed first). Needs the key only when there are such events."""
    bind = op.get_bind()
    if not bind.execute(sa.text("SELECT count(*) FROM audit_events")).scalar():
        return
    from config import load_settings
    from telehealth.audit.canonical import ChainKey, new_nonce
    from telehealth.audit.chain import content_columns

    key = ChainKey(load_settings()["AUDIT_HMAC_KEY"])
    rows = bind.execute(sa.text(f"SELECT e.id, {content_columns(bind.dialect.name)} FROM audit_events e "
                                "ORDER BY e.id")).all()
    signed = []
    for event_id, content, _nonce, _mac in rows:
        nonce = new_nonce()
        signed.append({"id": event_id, "nonce": nonce, "mac": key.event_mac(nonce, bytes(content))})
    bind.execute(sa.text("UPDATE audit_events SET nonce = :nonce, mac = :mac"
                         + (", txid = 0" if postgresql else "") + " WHERE id = :id"), signed)
