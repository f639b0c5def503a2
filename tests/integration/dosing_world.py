"""Arranging dose-session tests: a patient with an active prescription, a confirmed sitter and a
package received (8 on hand), and short ways to drive a session with the real verbs and sweep."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from telehealth import clock
from telehealth.accounts.models import Patient, Sitter
from telehealth.actor import Actor
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing import checkins, deadlines, scheduling
from telehealth.dosing.models import Channel, Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.dosing.operations import DosingSettings
from telehealth.messaging.models import Message
from tests.integration import dispensing_world as world

GOOD_PRE_DOSE = {"blood_pressure": "128/82", "pulse": "72", "substances": "N", "self_harm": "N", "mood": "6",
                 "on_hand": "8"}
GOOD_POST_DOSE = {"chest_pain": "N", "self_harm": "N", "nausea": "0", "dissociation": "3",
                  "blood_pressure": "126/80"}
SITTER_ACTOR = Actor(user_id=None, role="sitter", label="sms from sitter")


@dataclass
class Course:
    patient: Patient
    sitter: Sitter
    prescriber: object
    settings: DosingSettings

    @property
    def me(self) -> Actor:
        return Actor.for_user(self.patient.user)

    @property
    def doctor(self) -> Actor:
        return Actor.for_user(self.prescriber)


def course(app, session, make, *, on_hand: int = 8, timezone_name: str = "America/Chicago", **terms) -> Course:
    """A patient ready to book: active prescription, a verified sitter, `on_hand` received."""
    prescriber, pharmacist = make.user("prescriber"), make.user("pharmacist")
    patient = make.patient(prescriber, timezone_name=timezone_name)
    patient.status = patient.status.__class__("active")
    sitter = Sitter(patient_id=patient.id, full_name="Sid Sitter", phone=make.phone(), relationship_to_patient="friend",
                    phone_verified_at=clock.now(), consent_at=clock.now(), active=True, created_at=clock.now())
    session.add(sitter)
    session.commit()
    prescription = world.prescribe(session, patient, prescriber, **terms)
    if on_hand:
        dispensing_settings = DispensingSettings.from_config(app.config)
        shipment = world.delivered_package(session, pharmacist, dispensing_settings, prescription, quantity=on_hand)
        dispensing.confirm_receipt(session, Actor.for_user(patient.user), dispensing_settings, patient_id=patient.id,
                                   count=on_hand, channel="web")
        session.commit()
        assert shipment
    return Course(patient, sitter, prescriber, DosingSettings.from_config(app.config))


def book(session, c: Course, at: datetime) -> DoseSession:
    booked = scheduling.schedule_session(session, c.doctor, c.settings, c.patient.id, scheduled_at=at)
    session.commit()
    return booked


def sweep(session, c: Course) -> list[DeadlineState | None]:
    """Run the deadline sweep once, as the scheduler does, each deadline in its own commit."""
    done = []
    for deadline_id in deadlines.due_deadline_ids(session):
        done.append(deadlines.process(session, c.settings, deadline_id))
        session.commit()
    return done


def walk_to(session, c: Course, moment: datetime, clock_) -> None:
    """Move the clock to `moment` and sweep, as a scheduler running all along would."""
    while True:
        next_due = deadlines.next_due_at(session)
        if next_due is None or next_due > moment:
            break
        clock_.set(max(next_due, clock.now()))
        sweep(session, c)
    clock_.set(moment)
    sweep(session, c)


def open_window(session, c: Course, booked: DoseSession, clock_) -> None:
    walk_to(session, c, booked.scheduled_at - c.settings.timings.window_opens_before, clock_)


def pre_dose(session, c: Course, answers: dict | None = None, channel: Channel = Channel.WEB):
    from telehealth.dosing.rules import Questionnaire
    result = checkins.submit(session, c.me, c.settings, c.patient.id, Questionnaire.PRE_DOSE,
                             answers or GOOD_PRE_DOSE, channel=channel)
    session.commit()
    return result


def here(session, c: Course):
    result = checkins.sitter_here(session, SITTER_ACTOR, c.settings, c.sitter.id, channel=Channel.SMS)
    session.commit()
    return result


def deadlines_of(session, booked: DoseSession) -> dict[str, str]:
    session.expire_all()
    return {f"{d.kind.value}@{d.due_at:%H:%M}": d.state.value
            for d in session.scalars(sa.select(Deadline).where(Deadline.dose_session_id == booked.id))}


def texts_to(session, phone: str) -> list[str]:
    return [m.template for m in session.scalars(sa.select(Message).where(Message.to_phone == phone)
                                                .order_by(Message.id))]


def reloaded(session, booked: DoseSession) -> DoseSession:
    session.expire_all()
    return session.get(DoseSession, booked.id)


def in_hours(hours: float) -> datetime:
    return clock.now() + timedelta(hours=hours)


__all__ = ["DeadlineKind", "DeadlineState"]


# --- more verbs, as a test drives them ---------------------------------------------------------

def post_dose(session, c: Course, answers: dict | None = None, channel: Channel = Channel.WEB):
    from telehealth.dosing.rules import Questionnaire
    result = checkins.submit(session, c.me, c.settings, c.patient.id, Questionnaire.POST_DOSE,
                             answers or GOOD_POST_DOSE, channel=channel)
    session.commit()
    return result


def take(session, c: Course):
    result = checkins.taken(session, c.me, c.settings, c.patient.id, channel=Channel.SMS)
    session.commit()
    return result


def ok(session, c: Course, reading: str | None = "124/80"):
    """The sitter's OK, with the blood pressure they took (what the release asks for; before the
    release time it is kept with the observation check)."""
    result = checkins.sitter_ok(session, SITTER_ACTOR, c.settings, c.sitter.id, channel=Channel.SMS, reading=reading)
    session.commit()
    return result


def text(session, c: Course, words: str):
    """One SMS answer from the patient (READY first, as the router does)."""
    result = checkins.answer(session, c.me, c.settings, c.patient.id, words, channel=Channel.SMS)
    session.commit()
    return result


def ready(session, c: Course):
    result = checkins.start(session, c.me, c.settings, c.patient.id)
    session.commit()
    return result


def cleared_session(session, c: Course, clock_, at: datetime | None = None) -> DoseSession:
    """A session booked `at` (default in 2 hours), its window open, report in, sitter here: cleared."""
    booked = book(session, c, at or in_hours(2))
    open_window(session, c, booked, clock_)
    pre_dose(session, c)
    here(session, c)
    return reloaded(session, booked)


def dosed_session(session, c: Course, clock_, at: datetime | None = None) -> DoseSession:
    booked = cleared_session(session, c, clock_, at)
    take(session, c)
    return reloaded(session, booked)


def escalations_of(session, booked: DoseSession) -> list[tuple[str, str]]:
    """(reason, severity) of every escalation raised for the session, in order."""
    from telehealth.escalations.models import Escalation
    session.expire_all()
    return [(e.reason.value, e.severity.value) for e in session.scalars(
        sa.select(Escalation).where(Escalation.session_id == booked.id).order_by(Escalation.id))]


def patient_escalations(session, c: Course) -> list[tuple[str, str]]:
    from telehealth.escalations.models import Escalation
    session.expire_all()
    return [(e.reason.value, e.severity.value) for e in session.scalars(
        sa.select(Escalation).where(Escalation.patient_id == c.patient.id).order_by(Escalation.id))]


def state_of(session, booked: DoseSession) -> str:
    return reloaded(session, booked).state.value


def complete(session, c: Course, clock_, booked: DoseSession) -> DoseSession:
    """From TAKEN to release: every observation check answered, the post-dose report at 60."""
    dosed_at = reloaded(session, booked).dosed_at
    for minutes in (30, 60, 90):
        walk_to(session, c, dosed_at + timedelta(minutes=minutes), clock_)
        ok(session, c)
        if minutes == 60:
            post_dose(session, c)
    walk_to(session, c, dosed_at + timedelta(minutes=120), clock_)
    ok(session, c)
    return reloaded(session, booked)
