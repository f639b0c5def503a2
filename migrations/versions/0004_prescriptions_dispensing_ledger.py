"""prescriptions dispensing ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:45:37.173377
"""
from alembic import op
import sqlalchemy as sa
import telehealth.db


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('release_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('authorized_by_id', sa.Integer(), nullable=False),
    sa.Column('authorized_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('blockers', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['authorized_by_id'], ['users.id'], name=op.f('fk_release_overrides_authorized_by_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_release_overrides_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_release_overrides'))
    )
    with op.batch_alter_table('release_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_release_overrides_patient_id'), ['patient_id'], unique=False)

    op.create_table('screenings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('recorded_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('contraindications', sa.JSON(), nullable=False),
    sa.Column('baseline_systolic', sa.Integer(), nullable=False),
    sa.Column('baseline_diastolic', sa.Integer(), nullable=False),
    sa.Column('phq9', sa.Integer(), nullable=False),
    sa.Column('gad7', sa.Integer(), nullable=False),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.Column('override_by_id', sa.Integer(), nullable=True),
    sa.Column('override_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['override_by_id'], ['users.id'], name=op.f('fk_screenings_override_by_id_users')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_screenings_patient_id_patients')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_screenings_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screenings'))
    )
    with op.batch_alter_table('screenings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_screenings_patient_id'), ['patient_id'], unique=False)

    op.create_table('prescriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_id', sa.Integer(), nullable=False),
    sa.Column('prescriber_dea_number', sa.String(length=9), nullable=False),
    sa.Column('screening_id', sa.Integer(), nullable=False),
    sa.Column('drug', sa.String(length=80), nullable=False),
    sa.Column('strength_mg', sa.Integer(), nullable=False),
    sa.Column('dosage_form', sa.String(length=60), nullable=False),
    sa.Column('lozenges_per_dose', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('refills', sa.Integer(), nullable=False),
    sa.Column('directions', sa.Text(), nullable=False),
    sa.Column('doses_in_series', sa.Integer(), nullable=False),
    sa.Column('min_hours_between_doses', sa.Integer(), nullable=False),
    sa.Column('max_doses_per_7_days', sa.Integer(), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'suspended', 'completed', 'cancelled', name='prescription_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_note', sa.Text(), nullable=True),
    sa.CheckConstraint('quantity > 0 AND lozenges_per_dose > 0 AND strength_mg > 0', name=op.f('ck_prescriptions_positive_amounts')),
    sa.CheckConstraint('refills >= 0 AND refills <= 5', name=op.f('ck_prescriptions_schedule_iii_refills')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_prescriptions_patient_id_patients')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['users.id'], name=op.f('fk_prescriptions_prescriber_id_users')),
    sa.ForeignKeyConstraint(['screening_id'], ['screenings.id'], name=op.f('fk_prescriptions_screening_id_screenings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescriptions'))
    )
    with op.batch_alter_table('prescriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescriptions_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_prescriptions_prescriber_id'), ['prescriber_id'], unique=False)

    op.create_table('dispensings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prescription_id', sa.Integer(), nullable=False),
    sa.Column('fill_number', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=40), nullable=False),
    sa.Column('lot_expiry', sa.Date(), nullable=False),
    sa.Column('pharmacist_id', sa.Integer(), nullable=False),
    sa.Column('dispensed_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_dispensings_positive_quantity')),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['users.id'], name=op.f('fk_dispensings_pharmacist_id_users')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescriptions.id'], name=op.f('fk_dispensings_prescription_id_prescriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispensings')),
    sa.UniqueConstraint('prescription_id', 'fill_number', name=op.f('uq_dispensings_prescription_id_fill_number'))
    )
    with op.batch_alter_table('dispensings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispensings_lot_number'), ['lot_number'], unique=False)
        batch_op.create_index(batch_op.f('ix_dispensings_prescription_id'), ['prescription_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispensing_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('carrier', sa.String(length=40), nullable=False),
    sa.Column('tracking_number', sa.String(length=60), nullable=False),
    sa.Column('shipped_at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('shipped_by_id', sa.Integer(), nullable=False),
    sa.Column('delivered_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_count', sa.Integer(), nullable=True),
    sa.Column('received_via', sa.String(length=10), nullable=True),
    sa.Column('release_override_id', sa.Integer(), nullable=True),
    sa.Column('receipt_overdue_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lost_reported_at', telehealth.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lost_escalation_id', sa.Integer(), nullable=True),
    sa.Column('dea_notice_on', sa.Date(), nullable=True),
    sa.Column('form_106_filed_on', sa.Date(), nullable=True),
    sa.Column('form_106_number', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['dispensing_id'], ['dispensings.id'], name=op.f('fk_shipments_dispensing_id_dispensings')),
    sa.ForeignKeyConstraint(['lost_escalation_id'], ['escalations.id'], name=op.f('fk_shipments_lost_escalation_id_escalations')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_shipments_patient_id_patients')),
    sa.ForeignKeyConstraint(['release_override_id'], ['release_overrides.id'], name=op.f('fk_shipments_release_override_id_release_overrides')),
    sa.ForeignKeyConstraint(['shipped_by_id'], ['users.id'], name=op.f('fk_shipments_shipped_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('dispensing_id', name=op.f('uq_shipments_dispensing_id')),
    sa.UniqueConstraint('release_override_id', name=op.f('uq_shipments_release_override_id'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_patient_id'), ['patient_id'], unique=False)

    op.create_table('inventory_movements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('lot_number', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.Enum('received', 'dose_taken', 'wasted', 'returned', 'count_reported', 'correction', name='movement_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('reported_count', sa.Integer(), nullable=True),
    sa.Column('at', telehealth.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('actor_label', sa.String(length=120), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('dose_session_id', sa.Integer(), nullable=True),
    sa.Column('witness_name', sa.String(length=120), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_inventory_movements_actor_user_id_users')),
    sa.ForeignKeyConstraint(['corrects_id'], ['inventory_movements.id'], name=op.f('fk_inventory_movements_corrects_id_inventory_movements')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_inventory_movements_patient_id_patients')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_inventory_movements_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_movements'))
    )
    with op.batch_alter_table('inventory_movements', schema=None) as batch_op:
        batch_op.create_index('ix_inventory_movements_patient_id_lot_number', ['patient_id', 'lot_number'], unique=False)

    with op.batch_alter_table('sitters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('verification_expires_at', telehealth.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verification_attempts', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dea_number', sa.String(length=9), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('dea_number')

    with op.batch_alter_table('sitters', schema=None) as batch_op:
        batch_op.drop_column('verification_attempts')
        batch_op.drop_column('verification_expires_at')
        batch_op.drop_column('verification_code_hash')

    with op.batch_alter_table('inventory_movements', schema=None) as batch_op:
        batch_op.drop_index('ix_inventory_movements_patient_id_lot_number')

    op.drop_table('inventory_movements')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_patient_id'))

    op.drop_table('shipments')
    with op.batch_alter_table('dispensings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dispensings_prescription_id'))
        batch_op.drop_index(batch_op.f('ix_dispensings_lot_number'))

    op.drop_table('dispensings')
    with op.batch_alter_table('prescriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prescriptions_prescriber_id'))
        batch_op.drop_index(batch_op.f('ix_prescriptions_patient_id'))

    op.drop_table('prescriptions')
    with op.batch_alter_table('screenings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_screenings_patient_id'))

    op.drop_table('screenings')
    with op.batch_alter_table('release_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_release_overrides_patient_id'))

    op.drop_table('release_overrides')
