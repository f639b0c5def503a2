"""The demo clinic: invented people, fictional 555-01xx phone numbers, one known password.

`seed()` is idempotent: it creates what is missing and never changes what is there, so a second
run changes nothing. Later issues add prescriptions and dose sessions here.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Patient, PatientStatus, Role, Sitter, User
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity

# A demo password, printed by seed-demo and in the README. Demo data only: never production.
DEMO_PASSWORD = "demo-clinic-2026"
DOMAIN = "lakeside.example.org"

STAFF = [
    ("admin", "Avery Admin", "admin", None),
    ("prescriber", "Dr. Priya Raman", "raman", "+12015550101"),
    ("prescriber", "Dr. Marcus Bell", "bell", "+12015550102"),
    ("pharmacist", "Paula Chen", "chen", "+12015550103"),
    ("compliance", "Carlos Ortiz", "ortiz", "+12015550104"),
]

# (name, login, phone, birth date, street, city, region, zip, time zone, prescriber, backup, sitter)
PATIENTS = [
    ("Jordan Lee", "jordan.lee", "+12015550111", date(1984, 3, 14), "12 Alder Lane", "Hoboken", "NJ", "07030",
     "America/New_York", "raman", "bell", ("Casey Lee", "+12015550121", "spouse")),
    ("Sam Rivera", "sam.rivera", "+12015550112", date(1990, 7, 2), "48 Birch Street", "Evanston", "IL", "60201",
     "America/Chicago", "raman", "bell", ("Alex Rivera", "+12015550122", "sibling")),
    ("Taylor Brooks", "taylor.brooks", "+12015550113", date(1977, 11, 23), "7 Cedar Court", "Eugene", "OR",
     "97401", "America/Los_Angeles", "bell", None, ("Morgan Brooks", "+12015550123", "friend")),
]


def _email(login: str) -> str:
    return f"{login}@{DOMAIN}"


def seed(session: Session, policy: AccountPolicy, escalation_settings: EscalationSettings) -> dict[str, Any]:
    actor = Actor.system("seed-demo")
    created = False

    def user_by_login(login: str) -> User | None:
        return session.scalar(sa.select(User).where(User.email == _email(login)))

    for role, name, login, phone in STAFF:
        if user_by_login(login) is None:
            accounts.create_user(session, actor, policy, email=_email(login), full_name=name, role=role,
                                 password=DEMO_PASSWORD, phone=phone)
            created = True

    for (name, login, phone, born, street, city, region, zip_code, zone, prescriber, backup,
         (sitter_name, sitter_phone, relation)) in PATIENTS:
        patient_user = user_by_login(login)
        if patient_user is None:
            patient = accounts.enrol_patient(
                session, actor, policy, email=_email(login), full_name=name, phone=phone, date_of_birth=born,
                address_line1=street, city=city, region=region, postal_code=zip_code, timezone=zone,
                prescriber_id=user_by_login(prescriber).id,
                backup_prescriber_id=user_by_login(backup).id if backup else None, password=DEMO_PASSWORD)
            patient.status = PatientStatus.ACTIVE
            patient.sms_consent_at = clock.now()
            created = True
        else:
            patient = patient_user.patient
        if not patient.sitters:
            sitter = accounts.add_sitter(session, actor, policy, patient, full_name=sitter_name, phone=sitter_phone,
                                         relationship_to_patient=relation)
            # The demo skips the texted code: these sitters start verified and consenting.
            sitter.phone_verified_at = sitter.consent_at = clock.now()
            created = True
    session.flush()
    created |= _seed_escalations(session, actor, escalation_settings, user_by_login)
    return summary(session, created)


def _seed_escalations(session: Session, actor: Actor, settings: EscalationSettings, user_by_login) -> bool:  # noqa: ANN001
    """So the dashboard is not empty: an open urgent alert, and an acknowledged moderate one."""
    if session.scalar(sa.select(sa.func.count()).select_from(Escalation)):
        return False
    jordan, sam, raman = user_by_login("jordan.lee").patient, user_by_login("sam.rivera").patient, user_by_login("raman")
    escalations.raise_escalation(session, actor, settings, patient_id=jordan.id, reason=Reason.SOS,
                                 severity=Severity.URGENT, sender="sitter")
    held = escalations.raise_escalation(session, actor, settings, patient_id=sam.id, reason=Reason.PRE_DOSE_HOLD,
                                        severity=Severity.MODERATE, finding="blood pressure at the hold threshold")
    escalations.acknowledge(session, Actor.for_user(raman), held.id, channel="web")
    return True


def summary(session: Session, created: bool) -> dict[str, Any]:
    users = session.scalars(sa.select(User).where(User.email.like(f"%@{DOMAIN}")).order_by(User.id))
    patients = {p.user_id: p for p in session.scalars(sa.select(Patient))}
    sitters = session.scalars(sa.select(Sitter).order_by(Sitter.id))
    return {
        "created": created,
        "password": DEMO_PASSWORD,
        "accounts": [{
            "id": u.id, "role": u.role.value, "name": u.full_name, "email": u.email, "phone": u.phone,
            **({"patient_id": patients[u.id].id, "prescriber_id": patients[u.id].prescriber_id,
                "backup_prescriber_id": patients[u.id].backup_prescriber_id, "timezone": patients[u.id].timezone}
               if u.role is Role.PATIENT and u.id in patients else {}),
        } for u in users],
        "sitters": [{"id": s.id, "name": s.full_name, "phone": s.phone, "patient_id": s.patient_id}
                    for s in sitters],
        "escalations": [{"id": e.id, "patient_id": e.patient_id, "reason": e.reason.value,
                         "severity": e.severity.value, "state": e.state.value}
                        for e in session.scalars(sa.select(Escalation).order_by(Escalation.id))],
    }
