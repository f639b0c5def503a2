"""Helpers for the prescription and dispensing page flows: a treatment course arranged through the
operations, and posting a page's form with its CSRF token as a browser would."""
from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.prescriptions import operations as prescribing
from tests.conftest import csrf_token

DEA = "AB1234563"  # invented, with a good check digit
CLEAR = dict(contraindications=[], baseline_systolic=124, baseline_diastolic=78, phq9=16, gad7=11)
TERMS = dict(strength_mg=100, lozenges_per_dose=1, quantity=8, refills=2, doses_in_series=6,
             min_hours_between_doses=72, max_doses_per_7_days=2,
             directions="Dissolve one lozenge under the tongue at the session, with your sitter present.")
LOT = dict(lot_number="KL-2026-0415", lot_expiry=date(2027, 10, 31))


def prescriber_with_dea(make, session, dea: str = DEA, name: str = "Dana Prescriber"):
    prescriber = make.user("prescriber", name=name)
    prescriber.dea_number = dea
    session.commit()
    return prescriber


def prescribed(session, prescriber, patient, **terms):
    """A clear screening and an active prescription, by the patient's prescriber."""
    actor = Actor.for_user(prescriber)
    prescribing.record_screening(session, actor, patient.id, **CLEAR)
    prescription = prescribing.issue_prescription(session, actor, patient.id, **{**TERMS, **terms})
    session.commit()
    return prescription


def settings(app) -> DispensingSettings:
    return DispensingSettings.from_config(app.config)


def dispensed(app, session, pharmacist, prescription, quantity: int = 8):
    fill = dispensing.dispense(session, Actor.for_user(pharmacist), settings(app), prescription.id,
                               quantity=quantity, **LOT)
    session.commit()
    return fill


def shipped(app, session, pharmacist, prescription, quantity: int = 8, delivered: bool = False):
    fill = dispensed(app, session, pharmacist, prescription, quantity)
    shipment = dispensing.ship(session, Actor.for_user(pharmacist), settings(app), fill.id, carrier="USPS",
                               tracking_number="9400 1000 0000 0000 0001")
    if delivered:
        dispensing.mark_delivered(session, Actor.for_user(pharmacist), settings(app), shipment.id)
    session.commit()
    return shipment


def post(client, page: str, action: str, **data):
    """Post a form found on `page`, with the CSRF token that page carries."""
    return client.post(action, data={"csrf_token": csrf_token(client, page), **data})


def events(session, action: AuditAction) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)))


def text_of(response) -> str:
    """The page's words without markup, spaces collapsed: what a reader sees."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&")
