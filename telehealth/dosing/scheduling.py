"""Booking, cancelling and reading dose sessions (SPEC §3 step 6, §4).

A session is booked by the patient's prescriber or the patient, only within the prescription:
active and unexpired, the series length, the minimum spacing, the weekly maximum, enough on hand
for it and every session already booked, and an active sitter with a confirmed phone.

Dose numbers follow time order among a prescription's sessions that count in the series (not
cancelled or missed): after a booking or a cancellation the sessions not yet started are numbered
again, so no two booked sessions share a number.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing import inventory
from telehealth.dosing import checkins, deadlines, rules
from telehealth.dosing.models import DeadlineKind, DoseSession
from telehealth.dosing.operations import (DosingSettings, Outcome, Result, UPCOMING, acknowledge_hold_alert,
                                          add_deadline, lock, lock_patient, move, patient_session, patients_sitter,
                                          text_patient, text_sitter)
from telehealth.dosing.rules import Event, SessionState, SeriesTerms
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.messaging import templates
from telehealth.prescriptions.models import Prescription, PrescriptionStatus

# Sessions that hold a place in the series and on the calendar: cancelled and missed ones do not,
# unless the dose was taken (one closed unreleased after its dose ends "missed" yet was a dose).
BOOKED = [s for s in SessionState if s not in (SessionState.CANCELLED, SessionState.MISSED)]
HOLDS_A_PLACE = sa.or_(DoseSession.state.in_(BOOKED), DoseSession.dosed_at.is_not(None))

# The rules look a week either side of a booking and read it in the patient's zone: a time closer
# than that to the ends of the calendar cannot be read so (and no prescription reaches it).
_CALENDAR_MARGIN = timedelta(days=8)
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc) + _CALENDAR_MARGIN
_LATEST = datetime.max.replace(tzinfo=timezone.utc) - _CALENDAR_MARGIN


def _may_book(actor: Actor, patient: Patient) -> None:
    if actor.role not in ("patient", "prescriber", "system"):
        raise NotAllowed("Sessions are booked by the patient or their prescriber.", object_type="patient",
                         object_id=patient.id, patient_id=patient.id)
    ensure_may_read_patient(actor, patient)


def active_prescription(session: Session, patient_id: int) -> Prescription | None:
    return session.scalar(sa.select(Prescription).where(Prescription.patient_id == patient_id,
                                                        Prescription.status == PrescriptionStatus.ACTIVE)
                          .order_by(Prescription.id.desc()).limit(1))


def when(session_row: DoseSession) -> datetime:
    """When a session happened or will: the dose if taken, else the booked time."""
    return session_row.dosed_at or session_row.scheduled_at


def terms_of(prescription: Prescription) -> SeriesTerms:
    return SeriesTerms(active=prescription.status is PrescriptionStatus.ACTIVE, expires_on=prescription.expires_on,
                       doses_in_series=prescription.doses_in_series,
                       min_hours_between_doses=prescription.min_hours_between_doses,
                       max_doses_per_7_days=prescription.max_doses_per_7_days,
                       lozenges_per_dose=prescription.lozenges_per_dose)


def _in_utc(moment: datetime, field: str) -> datetime:
    """`moment` in UTC; at the ends of the calendar it is refused under `field`, the one the client sent."""
    try:
        at = clock.ensure_utc(moment)
    except OverflowError:   # its UTC is off the calendar: 9999-12-31 23:00 at UTC-6
        at = None
    if at is None or not _EARLIEST <= at <= _LATEST:
        raise RuleViolation(rules.BEYOND_THE_PRESCRIPTION, {field: [rules.BEYOND_THE_PRESCRIPTION]})
    return at


def local_time(patient: Patient, day: date, at: time) -> datetime:
    """A time the patient (or their prescriber) typed, read in the patient's own zone."""
    return _in_utc(rules.local_to_utc(day, at, patient.timezone), "local_date")


def renumber(session: Session, actor: Actor, prescription_id: int, *, booking: DoseSession | None = None) -> None:
    """Number the prescription's sessions not yet started in time order among those that count in
    the series, after any under way or done (those keep the number their records already carry).
    Each number changed is audited; `booking`, the session just booked, is audited by its booking."""
    # Locked and read afresh: a booking, a cancellation and the sweep opening a window may meet here.
    session.scalars(sa.select(DoseSession.id).where(DoseSession.prescription_id == prescription_id,
                                                    DoseSession.state == SessionState.SCHEDULED)
                    .order_by(DoseSession.id).with_for_update()).all()   # in one order, everywhere
    counting = session.scalars(sa.select(DoseSession).where(DoseSession.prescription_id == prescription_id,
                                                            HOLDS_A_PLACE)
                               .order_by(DoseSession.scheduled_at, DoseSession.id)
                               .execution_options(populate_existing=True))
    previous = 0
    for dose_session in counting:
        if dose_session.state is SessionState.SCHEDULED and dose_session.dose_number != previous + 1:
            was, dose_session.dose_number = dose_session.dose_number, previous + 1
            if dose_session is not booking:
                record(session, actor, AuditAction.DOSE_SESSION_RENUMBERED, object_type="dose_session",
                       object_id=dose_session.id, patient_id=dose_session.patient_id,
                       details={"dose_number": dose_session.dose_number, "was": was})
        previous = dose_session.dose_number


def schedule_session(session: Session, actor: Actor, settings: DosingSettings, patient_id: int, *,
                     scheduled_at: datetime) -> DoseSession:
    # The patient row is locked so two bookings at once are checked one after the other.
    patient = lock_patient(session, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    _may_book(actor, patient)
    at = _in_utc(scheduled_at, "scheduled_at")
    prescription = active_prescription(session, patient.id)
    if prescription is None:
        raise RuleViolation("The patient has no active prescription.",
                            {"prescription": ["The patient has no active prescription."]})
    booked = list(session.scalars(sa.select(DoseSession).where(DoseSession.patient_id == patient.id, HOLDS_A_PLACE)))
    sitter = patients_sitter(session, patient.id)
    problems = rules.scheduling_problems(
        at=at, now=clock.now(), local_day=rules.to_local(at, patient.timezone).date(), terms=terms_of(prescription),
        booked=[when(s) for s in booked],
        used_in_series=sum(1 for s in booked if s.prescription_id == prescription.id),
        on_hand=inventory.on_hand(session, patient.id),
        pending_doses=sum(1 for s in booked if s.state.before_dose),
        has_verified_sitter=sitter is not None)
    if problems:
        raise RuleViolation("This session cannot be booked then.", problems)
    now = clock.now()
    dose_session = DoseSession(patient_id=patient.id, prescription_id=prescription.id, sitter_id=sitter.id,
                               dose_number=sum(1 for s in booked if s.prescription_id == prescription.id) + 1,
                               scheduled_at=at, state=SessionState.SCHEDULED, created_at=now,
                               scheduled_by_id=actor.user_id)
    session.add(dose_session)
    session.flush()
    renumber(session, actor, prescription.id, booking=dose_session)   # it may be earlier than others booked
    timings = settings.timings
    add_deadline(session, dose_session, DeadlineKind.WINDOW_OPENS, at - timings.window_opens_before)
    add_deadline(session, dose_session, DeadlineKind.SITTER_ARRIVAL, at + timings.sitter_arrival_after)
    add_deadline(session, dose_session, DeadlineKind.PRE_DOSE_REPORT, at + timings.pre_dose_report_after)
    record(session, actor, AuditAction.DOSE_SESSION_SCHEDULED, object_type="dose_session", object_id=dose_session.id,
           patient_id=patient.id, details={"scheduled_at": at.isoformat(), "dose_number": dose_session.dose_number})
    return dose_session


def cancel_session(session: Session, actor: Actor, settings: DosingSettings, dose_session_id: int, *,
                   reason: str) -> DoseSession:
    """Cancel before the dose: the patient (SKIP) or their prescriber. Patient and sitter are told."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("A reason is needed.", {"reason": ["Say why the session is cancelled."]})
    patient_id = session.scalar(sa.select(DoseSession.patient_id).where(DoseSession.id == dose_session_id))
    if patient_id is None:
        raise NotFound(f"No dose session {dose_session_id}.")
    lock_patient(session, patient_id)
    dose_session = lock(session, dose_session_id)
    _may_book(actor, dose_session.patient)
    return _cancel(session, actor, settings, dose_session, reason)


def _cancel(session: Session, actor: Actor, settings: DosingSettings, dose_session: DoseSession,
            reason: str) -> DoseSession:
    if not dose_session.state.before_dose:
        raise Conflict("Only a session not yet taken can be cancelled.")
    if dose_session.state is SessionState.ON_HOLD and actor.role == "prescriber":
        acknowledge_hold_alert(session, actor, dose_session, channel="hold cancelled")
    move(session, actor, dose_session, Event.CANCEL, reason=reason[:200])
    dose_session.end_reason = reason[:200]
    renumber(session, actor, dose_session.prescription_id)   # the sessions after it move up
    # The day too: a cancelled session may be days away.
    day = rules.local_label(dose_session.scheduled_at, dose_session.patient.timezone)
    text_sitter(session, dose_session, templates.session_cancelled_sitter(settings.clinic, day))
    if actor.role != "patient":  # a patient who cancelled knows; one whose prescriber did must be told
        text_patient(session, dose_session, templates.session_cancelled(settings.clinic, day))
    return dose_session


def skip(session: Session, actor: Actor, settings: DosingSettings, patient_id: int) -> Result:
    """The patient's SKIP: cancel their next session, before the dose only."""
    lock_patient(session, patient_id)
    upcoming = patient_session(session, patient_id, UPCOMING)
    if upcoming is None:
        raise Conflict("You have no session to skip.")
    if not upcoming.state.before_dose:
        raise Conflict("Your session has already started after taking it, so it cannot be skipped. "
                       "Stay with your sitter.")
    _may_book(actor, upcoming.patient)
    # As every check-in does: a session whose deadline passed unswept is missed (and escalated), not skipped.
    deadlines.catch_up(session, settings, upcoming)
    if upcoming.state is SessionState.MISSED:
        raise Conflict(checkins.CLEARANCE_EXPIRED if upcoming.cleared_at else checkins.SESSION_ENDED)
    _cancel(session, actor, settings, upcoming, "skipped by the patient")
    return Result(Outcome.CANCELLED, upcoming, at=upcoming.scheduled_at)


# --- reading -----------------------------------------------------------------------------

def sessions_of(session: Session, actor: Actor, patient_id: int) -> list[DoseSession]:
    """A patient's sessions, in order; a staff read is audited."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    ensure_may_read_patient(actor, patient)
    found = list(session.scalars(sa.select(DoseSession).where(DoseSession.patient_id == patient.id)
                                 .order_by(DoseSession.scheduled_at, DoseSession.id)))
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.DOSE_SESSION_LIST_READ, object_type="patient", object_id=patient.id,
               patient_id=patient.id, details={"sessions": [s.id for s in found][:200]})
    return found


def read_session(session: Session, actor: Actor, dose_session_id: int) -> DoseSession:
    found = session.get(DoseSession, dose_session_id)
    if found is None:
        raise NotFound(f"No dose session {dose_session_id}.")
    ensure_may_read_patient(actor, found.patient)
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.DOSE_SESSION_READ, object_type="dose_session", object_id=found.id,
               patient_id=found.patient_id)
    return found


def incomplete_records(session: Session, patient_id: int) -> list[str]:
    """The dispensing room's release check (SPEC §3 step 5): a session taken but not yet released
    with its post-dose report, or one on hold, keeps the next package back."""
    rows = session.scalars(sa.select(DoseSession).where(
        DoseSession.patient_id == patient_id,
        sa.or_(DoseSession.state == SessionState.ON_HOLD,
               sa.and_(DoseSession.dosed_at.is_not(None),
                       sa.or_(DoseSession.post_dose_completed_at.is_(None), DoseSession.released_at.is_(None)))))
        .order_by(DoseSession.scheduled_at))
    return [f"session {s.dose_number} ({s.state.label}) has an incomplete record" for s in rows]
