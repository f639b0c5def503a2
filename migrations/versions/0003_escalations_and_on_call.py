"""escalations and on-call

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:14:57.048647
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


OLD_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "received")
NEW_STATUSES = OLD_STATUSES + ("cancelled",)


def _message_statuses(statuses: tuple[str, ...]) -> None:
    """Messages gain the status "cancelled" (an acknowledged escalation's queued pages)."""
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_messages_message_status"), type_="check")
        batch_op.create_check_constraint("message_status", sa.column("status").in_(statuses))


def upgrade() -> None:
    _message_statuses(NEW_STATUSES)
    op.create_table('escalations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('missed_sitter_arrival', 'missed_pre_dose_report', 'missed_post_dose_report', 'missed_release', 'missed_observation_check', 'missed_dose_taken', 'pre_dose_hold', 'adverse_finding', 'sos', 'crisis_phrase', 'opted_out_mid_course', 'receipt_discrepancy', 'receipt_overdue', 'shipment_lost', 'inventory_discrepancy', name='escalation_reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('severity', sa.Enum('urgent', 'high', 'moderate', 'low', name='escalation_severity', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('state', sa.Enum('open', 'acknowledged', 'resolved', name='escalation_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('dose_number', sa.Integer(), nullable=True),
    sa.Column('open_key', sa.String(length=80), nullable=True),
    sa.Column('opened_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('trigger_count', sa.Integer(), nullable=False),
    sa.Column('paging_plan', sa.JSON(), nullable=False),
    sa.Column('paging_started_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('steps_paged', sa.Integer(), nullable=False),
    sa.Column('steps_forced', sa.Integer(), nullable=False),
    sa.Column('next_page_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('resolved_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('reached_patient', 'emergency_services', 'dose_rescheduled', 'no_action_needed', 'other', name='escalation_outcome', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_escalations_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_escalations_patient_id_patients')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_escalations_resolved_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalations')),
    sa.UniqueConstraint('open_key', name=op.f('uq_escalations_open_key'))
    )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_next_page_at'), ['next_page_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalations_patient_id'), ['patient_id'], unique=False)

    op.create_table('escalation_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('escalation_id', sa.Integer(), nullable=False),
    sa.Column('at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.Enum('triggered', 'retriggered', 'severity_raised', 'paged', 'page_failed', 'nobody_to_page', 'acknowledged', 'resolved', name='escalation_event_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('recipient_user_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_escalation_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['escalation_id'], ['escalations.id'], name=op.f('fk_escalation_events_escalation_id_escalations')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_escalation_events_message_id_messages')),
    sa.ForeignKeyConstraint(['recipient_user_id'], ['users.id'], name=op.f('fk_escalation_events_recipient_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_events'))
    )
    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_events_escalation_id'), ['escalation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_events_recipient_user_id'), ['recipient_user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_call', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('on_call_from', sa.Time(), nullable=True))
        batch_op.add_column(sa.Column('on_call_until', sa.Time(), nullable=True))



def downgrade() -> None:
    op.execute("UPDATE messages SET status = 'failed' WHERE status = 'cancelled'")
    _message_statuses(OLD_STATUSES)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('on_call_until')
        batch_op.drop_column('on_call_from')
        batch_op.drop_column('on_call')

    with op.batch_alter_table('escalation_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_events_recipient_user_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_events_escalation_id'))

    op.drop_table('escalation_events')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalations_patient_id'))
        batch_op.drop_index(batch_op.f('ix_escalations_next_page_at'))

    op.drop_table('escalations')
