"""Helpers for the API flows of a treatment course: bearer tokens, row counts, and a course set up
through the operations (the step under test goes through HTTP)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.prescriptions import operations as prescriptions
from tests.conftest import PASSWORD

ERROR_SHAPE = {"code", "status", "message", "errors"}
DEA_NUMBER = "AB1234563"  # invented, with a good check digit
CLEAR = dict(contraindications=[], baseline_systolic=124, baseline_diastolic=78, phq9=17, gad7=11)
TERMS = dict(strength_mg=100, lozenges_per_dose=2, quantity=16, refills=2, doses_in_series=8,
             directions="Dissolve 2 lozenges under the tongue with your sitter present.",
             min_hours_between_doses=72, max_doses_per_7_days=2)
LOT = dict(lot_number="KX-2291", lot_expiry=date(2027, 12, 31))


def token_for(client, user) -> dict[str, str]:
    response = client.post("/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json['token']}"}


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def audited(session, action: AuditAction) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)
                                .order_by(AuditEvent.id)))


def prescriber_with_dea(make, session, **kwargs):
    user = make.user(Role.PRESCRIBER, **kwargs)
    user.dea_number = DEA_NUMBER
    session.commit()
    return user


def prescription_for(session, prescriber, patient, **changes):
    """A clear screening and an active prescription, issued today by `prescriber`."""
    actor = Actor.for_user(prescriber)
    prescriptions.record_screening(session, actor, patient.id, **CLEAR)
    prescription = prescriptions.issue_prescription(session, actor, patient.id, **{**TERMS, **changes})
    session.commit()
    return prescription
