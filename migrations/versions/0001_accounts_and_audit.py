"""accounts and audit

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 01:41:44.983148
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('attempted_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_client_address_attempted_at', ['client_address', 'attempted_at'], unique=False)
        batch_op.create_index('ix_login_attempts_email_attempted_at', ['email', 'attempted_at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=True),
    sa.Column('role', sa.Enum('patient', 'prescriber', 'pharmacist', 'compliance', 'admin', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('login_id', sa.String(length=43), nullable=False),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email')),
    sa.UniqueConstraint('login_id', name=op.f('uq_users_login_id')),
    sa.UniqueConstraint('phone', name=op.f('uq_users_phone'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('patients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=False),
    sa.Column('address_line1', sa.String(length=120), nullable=False),
    sa.Column('address_line2', sa.String(length=120), nullable=True),
    sa.Column('city', sa.String(length=80), nullable=False),
    sa.Column('region', sa.String(length=40), nullable=False),
    sa.Column('postal_code', sa.String(length=16), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('backup_prescriber_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('onboarding', 'active', 'paused', 'discharged', name='patient_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('sms_consent_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('backup_prescriber_id IS NULL OR backup_prescriber_id <> prescriber_id', name=op.f('ck_patients_backup_differs_from_prescriber')),
    sa.ForeignKeyConstraint(['backup_prescriber_id'], ['users.id'], name=op.f('fk_patients_backup_prescriber_id_users')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'], name=op.f('fk_patients_prescriber_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_patients_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patients')),
    sa.UniqueConstraint('user_id', name=op.f('uq_patients_user_id'))
    )
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_backup_prescriber_id'), ['backup_prescriber_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patients_prescriber_id'), ['prescriber_id'], unique=False)

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=True),
    sa.Column('object_id', sa.String(length=40), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('client_address', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_audit_events_actor_user_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_audit_events_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_user_id'), ['actor_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_patient_id'), ['patient_id'], unique=False)

    op.create_table('sitters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('relationship_to_patient', sa.String(length=60), nullable=False),
    sa.Column('phone_verified_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_sitters_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sitters')),
    sa.UniqueConstraint('phone', name=op.f('uq_sitters_phone'))
    )
    with op.batch_alter_table('sitters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sitters_patient_id'), ['patient_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sitters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sitters_patient_id'))

    op.drop_table('sitters')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_patient_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_user_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_prescriber_id'))
        batch_op.drop_index(batch_op.f('ix_patients_backup_prescriber_id'))

    op.drop_table('patients')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_email_attempted_at')
        batch_op.drop_index('ix_login_attempts_client_address_attempted_at')

    op.drop_table('login_attempts')
