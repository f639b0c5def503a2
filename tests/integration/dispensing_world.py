"""Arranging dispensing data for tests: a screening and an active prescription written as rows
(the prescribing operations belong to another room and are not used here), then a package taken
through the dispensing verbs to the state a test needs."""
from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit.models import AuditEvent
from telehealth.dispensing import operations
from telehealth.dispensing.models import Dispensing, InventoryMovement, ReleaseOverride, Shipment
from telehealth.escalations.models import Escalation
from telehealth.messaging.models import Message
from telehealth.prescriptions.models import Prescription, PrescriptionStatus, Screening

DEA = "AB1234563"


def prescribe(session, patient, prescriber, **changes) -> Prescription:
    """A cleared screening and an active prescription issued today: 8 per fill, 5 refills."""
    now = clock.now()
    screening = Screening(patient_id=patient.id, recorded_by_id=prescriber.id, recorded_at=now, contraindications=[],
                          baseline_systolic=124, baseline_diastolic=78, phq9=17, gad7=11)
    session.add(screening)
    session.flush()
    issued_on = changes.pop("issued_on", now.date())
    values = dict(patient_id=patient.id, prescriber_id=prescriber.id, prescriber_dea_number=DEA,
                  screening_id=screening.id, drug="ketamine hydrochloride", strength_mg=100,
                  dosage_form="sublingual rapid-dissolve tablet", lozenges_per_dose=1, quantity=8, refills=5,
                  directions="Dissolve 1 under the tongue with your sitter present.", doses_in_series=8,
                  min_hours_between_doses=72, max_doses_per_7_days=2, issued_on=issued_on,
                  expires_on=issued_on + timedelta(days=182), status=PrescriptionStatus.ACTIVE, created_at=now,
                  status_changed_at=now)
    prescription = Prescription(**{**values, **changes})
    session.add(prescription)
    session.commit()
    return prescription


def a_year_on() -> date:
    return clock.now().date() + timedelta(days=365)


def dispense(session, pharmacist, settings, prescription, *, quantity: int | None = None, lot: str = "LOT-A1",
             expiry: date | None = None) -> Dispensing:
    fill = operations.dispense(session, Actor.for_user(pharmacist), settings, prescription.id,
                               quantity=prescription.quantity if quantity is None else quantity, lot_number=lot,
                               lot_expiry=expiry or a_year_on())
    session.commit()
    return fill


def ship(session, pharmacist, settings, fill: Dispensing) -> Shipment:
    shipment = operations.ship(session, Actor.for_user(pharmacist), settings, fill.id, carrier="USPS",
                               tracking_number="9400 1000 0000 0000 0000 01")
    session.commit()
    return shipment


def deliver(session, pharmacist, settings, shipment: Shipment) -> Shipment:
    shipment = operations.mark_delivered(session, Actor.for_user(pharmacist), settings, shipment.id)
    session.commit()
    return shipment


def delivered_package(session, pharmacist, settings, prescription, **fill_options) -> Shipment:
    """One fill of the prescription, shipped and delivered now."""
    return deliver(session, pharmacist, settings, ship(session, pharmacist, settings,
                                                       dispense(session, pharmacist, settings, prescription,
                                                                **fill_options)))


WRITTEN = (Dispensing, Shipment, ReleaseOverride, InventoryMovement, Escalation, Message, AuditEvent)


def row_counts(session) -> dict[str, int]:
    """How many rows each table a dispensing verb may write holds (pending writes included)."""
    return {model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in WRITTEN}
