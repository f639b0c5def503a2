"""sms outbox and consent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:55:29.100637
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_consents',
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('changed_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_consents'))
    )
    op.create_table('messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.Enum('inbound', 'outbound', name='message_direction', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('to_phone', sa.String(length=32), nullable=False),
    sa.Column('from_phone', sa.String(length=32), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('template', sa.String(length=60), nullable=True),
    sa.Column('status', sa.Enum('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'received', name='message_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('sent_as_reply', sa.Boolean(), nullable=False),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('provider_status', sa.String(length=20), nullable=True),
    sa.Column('error_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('owner_type', sa.String(length=40), nullable=True),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_messages_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_messages_provider_sid'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_messages_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_messages_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_messages_to_phone_id', ['to_phone', 'id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_to_phone_id')
        batch_op.drop_index('ix_messages_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_messages_patient_id'))

    op.drop_table('messages')
    op.drop_table('sms_consents')
