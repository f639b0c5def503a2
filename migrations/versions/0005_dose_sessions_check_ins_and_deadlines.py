"""dose sessions, check-ins and deadlines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 11:22:20.808170
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dose_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('sitter_id', sa.Integer(), nullable=False),
    sa.Column('dose_number', sa.Integer(), nullable=False),
    sa.Column('scheduled_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('scheduled', 'open', 'cleared', 'dosed', 'observing', 'completed', 'on_hold', 'missed', 'cancelled', name='dose_session_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('scheduled_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_opened_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sitter_arrived_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pre_dose_started_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pre_dose_completed_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cleared_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('held_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('dosed_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('post_dose_started_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('post_dose_completed_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('released_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('hold_findings', sa.JSON(), nullable=True),
    sa.Column('hold_released_by_id', sa.Integer(), nullable=True),
    sa.Column('hold_release_note', sa.Text(), nullable=True),
    sa.Column('end_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['hold_released_by_id'], ['users.id'], name=op.f('fk_dose_sessions_hold_released_by_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_dose_sessions_patient_id_patients')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_dose_sessions_prescription_id_prescriptions')),
    sa.ForeignKeyConstraint(['scheduled_by_id'], ['users.id'], name=op.f('fk_dose_sessions_scheduled_by_id_users')),
    sa.ForeignKeyConstraint(['sitter_id'], ['sitters.id'], name=op.f('fk_dose_sessions_sitter_id_sitters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dose_sessions'))
    )
    with op.batch_alter_table('dose_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_dose_sessions_patient_id_scheduled_at', ['patient_id', 'scheduled_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_dose_sessions_prescription_id'), ['prescription_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dose_sessions_sitter_id'), ['sitter_id'], unique=False)

    op.create_table('check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dose_session_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('by', sa.String(length=20), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('sitter_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.Enum('sms', 'web', 'api', name='check_in_channel', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('received_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_check_ins_actor_user_id_users')),
    sa.ForeignKeyConstraint(['dose_session_id'], ['dose_sessions.id'], name=op.f('fk_check_ins_dose_session_id_dose_sessions')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_check_ins_message_id_messages')),
    sa.ForeignKeyConstraint(['sitter_id'], ['sitters.id'], name=op.f('fk_check_ins_sitter_id_sitters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_check_ins'))
    )
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_check_ins_dose_session_id'), ['dose_session_id'], unique=False)

    op.create_table('deadlines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dose_session_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('window_opens', 'sitter_arrival', 'pre_dose_report', 'bp_recheck', 'dose_taken_reminder', 'dose_taken', 'post_dose_prompt', 'post_dose_report', 'observation_check', 'observation_answer', 'release_prompt', 'release', name='deadline_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('due_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('state', sa.Enum('pending', 'met', 'missed', 'cancelled', name='deadline_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('settled_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['dose_session_id'], ['dose_sessions.id'], name=op.f('fk_deadlines_dose_session_id_dose_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deadlines')),
    sa.UniqueConstraint('dose_session_id', 'kind', 'due_at', name=op.f('uq_deadlines_dose_session_id_kind_due_at'))
    )
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadlines_dose_session_id'), ['dose_session_id'], unique=False)
        batch_op.create_index('ix_deadlines_pending_due_at', ['due_at'], unique=False, sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalations_session_id'), ['session_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_escalations_session_id_dose_sessions'), 'dose_sessions', ['session_id'], ['id'])

    with op.batch_alter_table('inventory_movements', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_inventory_movements_dose_session_id_dose_sessions'), 'dose_sessions', ['dose_session_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('inventory_movements', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inventory_movements_dose_session_id_dose_sessions'), type_='foreignkey')

    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_escalations_session_id_dose_sessions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_escalations_session_id'))

    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index('ix_deadlines_pending_due_at', sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'"))
        batch_op.drop_index(batch_op.f('ix_deadlines_dose_session_id'))

    op.drop_table('deadlines')
    with op.batch_alter_table('check_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_check_ins_dose_session_id'))

    op.drop_table('check_ins')
    with op.batch_alter_table('dose_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dose_sessions_sitter_id'))
        batch_op.drop_index(batch_op.f('ix_dose_sessions_prescription_id'))
        batch_op.drop_index('ix_dose_sessions_patient_id_scheduled_at')

    op.drop_table('dose_sessions')
