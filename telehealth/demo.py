"""The demo clinic: invented people, fictional 555-01xx phone numbers, one known password.

`seed()` is idempotent: it creates what is missing and never changes what is there, so a second
run changes nothing.

Packages are seeded before alerts, because an open alert holds a patient's next package
(staged release): Jordan's is delivered and counted, Sam's is in transit, and Taylor's
prescription waits in the pharmacy queue for the demo's pharmacist to fill and ship. Jordan has a
dose session starting in a quarter of an hour, so its window is open at once: the demo can be
walked straight away (Casey texts HERE, Jordan READY and the answers, or fills the form on the web).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Patient, PatientStatus, Role, Sitter, User
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.inventory import on_hand
from telehealth.dispensing.models import Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing import checkins, deadlines, scheduling
from telehealth.dosing.models import Channel, DoseSession
from telehealth.dosing.operations import DosingSettings
from telehealth.dosing.rules import Questionnaire
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity
from telehealth.prescriptions import operations as prescribing
from telehealth.prescriptions.models import Prescription

# A demo password, printed by seed-demo and in the README. Demo data only: never production.
DEMO_PASSWORD = "demo-clinic-2026"
DOMAIN = "lakeside.example.org"

# Invented DEA numbers with a valid check digit (no real registrant has them).
DEA_NUMBERS = {"raman": "BR1234563", "bell": "BB7654329"}

# Every demo patient's prescription: 8 lozenges a fill, one a session, six sessions.
PRESCRIPTION = dict(strength_mg=100, lozenges_per_dose=1, quantity=8, refills=5, doses_in_series=6,
                    min_hours_between_doses=72, max_doses_per_7_days=2,
                    directions="Dissolve one lozenge under the tongue at the scheduled session, with your "
                               "sitter present. Do not chew or swallow.")
DEMO_LOT = ("KL-2026-0415", date(2027, 10, 31))

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


def seed(session: Session, policy: AccountPolicy, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` is the app's configuration (the settings of each room are read from it)."""
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
    now = clock.now()
    # The clinic's history happened over the past week, in order: prescribed, filled and received,
    # Jordan's first session; the alerts and Jordan's next session are now.
    with _as_of(now - PRESCRIBED_AGO):
        created |= _seed_prescriptions(session, actor, user_by_login)
    with _as_of(now - FILLED_AGO):
        created |= _seed_packages(session, DispensingSettings.from_config(config), user_by_login)
    created |= _seed_escalations(session, actor, EscalationSettings.from_config(config), user_by_login)
    created |= _seed_sessions(session, DosingSettings.from_config(config), user_by_login)
    return summary(session, created)


def _seed_prescriptions(session: Session, actor: Actor, user_by_login) -> bool:  # noqa: ANN001
    """A clear screening and an active prescription for each demo patient, by their prescriber."""
    created = False
    for login, dea in DEA_NUMBERS.items():
        prescriber = user_by_login(login)
        if prescriber.dea_number is None:
            prescribing.set_dea_number(session, actor, prescriber, dea)
            created = True
    for _name, login, *_rest, prescriber_login, _backup, _sitter in PATIENTS:
        patient = user_by_login(login).patient
        if session.scalar(sa.select(Prescription.id).where(Prescription.patient_id == patient.id)):
            continue
        prescriber = Actor.for_user(user_by_login(prescriber_login))
        prescribing.record_screening(session, prescriber, patient.id, contraindications=[], baseline_systolic=124,
                                     baseline_diastolic=78, phq9=16, gad7=11)
        prescribing.issue_prescription(session, prescriber, patient.id, **PRESCRIPTION)
        created = True
    return created


def _seed_packages(session: Session, settings: DispensingSettings, user_by_login) -> bool:  # noqa: ANN001
    """Jordan's first package delivered and counted (8 on hand); Sam's in transit."""
    if session.scalar(sa.select(sa.func.count()).select_from(Shipment)):
        return False
    pharmacist = Actor.for_user(user_by_login("chen"))
    lot, expiry = DEMO_LOT
    for login, tracking in (("jordan.lee", "9400 1000 0000 0000 0101"), ("sam.rivera", "9400 1000 0000 0000 0102")):
        patient = user_by_login(login).patient
        prescription = session.scalar(sa.select(Prescription).where(Prescription.patient_id == patient.id))
        fill = dispensing.dispense(session, pharmacist, settings, prescription.id, quantity=8, lot_number=lot,
                                   lot_expiry=expiry)
        shipment = dispensing.ship(session, pharmacist, settings, fill.id, carrier="USPS", tracking_number=tracking)
        if login == "jordan.lee":
            dispensing.mark_delivered(session, pharmacist, settings, shipment.id)
            dispensing.confirm_receipt(session, Actor.for_user(patient.user), settings, patient_id=patient.id,
                                       count=8, channel="web")
    return True


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


# How far ahead Jordan's demo session starts: inside the window, so check-ins are open at once.
DEMO_SESSION_STARTS_IN = timedelta(minutes=15)


PRESCRIBED_AGO, FILLED_AGO, FIRST_SESSION_AGO = timedelta(days=8), timedelta(days=6), timedelta(days=4)
# Jordan's first session, as the patient and sitter answered it.
FIRST_PRE_DOSE = {"blood_pressure": "164/98", "pulse": "78", "substances": "N", "self_harm": "N", "mood": "5",
                  "on_hand": "8"}
FIRST_RECHECK = {"blood_pressure_recheck": "148/92"}
FIRST_POST_DOSE = {"chest_pain": "N", "self_harm": "N", "nausea": "1", "dissociation": "4",
                   "blood_pressure": "142/88"}
RELEASE_READING = "131/84"   # the sitter's, with the OK that released Jordan
SITTER = Actor(user_id=None, role="sitter", label="seed-demo: sitter")


@contextmanager
def _as_of(moment: datetime) -> Iterator[clock.FrozenClock]:
    """Run the seed's verbs as if at `moment` (the clock moves only when told to)."""
    frozen = clock.FrozenClock(moment)
    previous = clock.install(frozen)
    try:
        yield frozen
    finally:
        clock.install(previous)


def _seed_first_session(session: Session, settings: DosingSettings, user_by_login) -> None:  # noqa: ANN001
    """Jordan's first session, four days ago, through the real verbs: a first blood pressure at the
    hold threshold and a recheck below it, taken, the sitter's checks answered, the post-dose report
    (mild nausea, logged), released at two hours. Its dose record is complete, for the compliance demo."""
    jordan, raman = user_by_login("jordan.lee").patient, user_by_login("raman")
    me, sitter = Actor.for_user(jordan.user), jordan.sitters[0]
    with _as_of(clock.now() - FIRST_SESSION_AGO) as frozen:
        def sweep_until(moment: datetime) -> None:
            while (due := deadlines.next_due_at(session)) is not None and due <= moment:
                frozen.set(max(due, clock.now()))
                deadlines.handle_due(session, settings)
            frozen.set(moment)

        booked = scheduling.schedule_session(session, Actor.for_user(raman), settings, jordan.id,
                                             scheduled_at=clock.now() + DEMO_SESSION_STARTS_IN)
        session.flush()
        sweep_until(clock.now())   # the window opens
        checkins.sitter_here(session, SITTER, settings, sitter.id, channel=Channel.SMS)
        checkins.submit(session, me, settings, jordan.id, Questionnaire.PRE_DOSE, FIRST_PRE_DOSE, channel=Channel.WEB)
        frozen.advance(settings.timings.bp_recheck_rest)
        checkins.submit(session, me, settings, jordan.id, Questionnaire.PRE_DOSE, FIRST_RECHECK, channel=Channel.WEB)
        checkins.taken(session, me, settings, jordan.id, channel=Channel.SMS)
        dosed_at, timings = booked.dosed_at, settings.timings
        checks = int(timings.release_after / timings.observation_every)
        for n in range(1, checks):
            sweep_until(dosed_at + n * timings.observation_every)
            checkins.sitter_ok(session, SITTER, settings, sitter.id, channel=Channel.SMS)
            if dosed_at + n * timings.observation_every >= dosed_at + timings.post_dose_report_after \
                    and booked.post_dose_completed_at is None:
                checkins.submit(session, me, settings, jordan.id, Questionnaire.POST_DOSE, FIRST_POST_DOSE,
                                channel=Channel.WEB)
        sweep_until(dosed_at + timings.release_after)
        checkins.sitter_ok(session, SITTER, settings, sitter.id, channel=Channel.SMS, reading=RELEASE_READING)
        assert booked.state.value == "completed", "the demo's first session is complete"


def _seed_sessions(session: Session, settings: DosingSettings, user_by_login) -> bool:  # noqa: ANN001
    """Jordan's first session, done four days ago; the next, booked by Dr. Raman, its window opened
    as the scheduler would."""
    if session.scalar(sa.select(sa.func.count()).select_from(DoseSession)):
        return False
    _seed_first_session(session, settings, user_by_login)
    jordan = user_by_login("jordan.lee").patient
    booked = scheduling.schedule_session(session, Actor.for_user(user_by_login("raman")), settings, jordan.id,
                                         scheduled_at=clock.now() + DEMO_SESSION_STARTS_IN)
    session.flush()
    deadlines.handle_due(session, settings)
    assert booked.state.value == "open", "the demo session's window opens at once"
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
        "prescriptions": [{"id": p.id, "patient_id": p.patient_id, "prescriber_id": p.prescriber_id,
                           "status": p.status.value, "quantity": p.quantity, "refills": p.refills}
                          for p in session.scalars(sa.select(Prescription).order_by(Prescription.id))],
        "shipments": [{"id": s.id, "patient_id": s.patient_id, "dispensing_id": s.dispensing_id, "state": s.state,
                       "on_hand": on_hand(session, s.patient_id)}
                      for s in session.scalars(sa.select(Shipment).order_by(Shipment.id))],
        "sessions": [{"id": d.id, "patient_id": d.patient_id, "sitter_id": d.sitter_id, "dose_number": d.dose_number,
                      "scheduled_at": d.scheduled_at.isoformat(), "state": d.state.value}
                     for d in session.scalars(sa.select(DoseSession).order_by(DoseSession.id))],
    }
