"""STATUS by text: the patient's (or their sitter's) next session and what is due now, in the
patient's local time (SPEC §6). Worded for a phone: "session", "check-in" and "it", never the
medicine or an amount.

A read only: nothing is locked, changed or stored. The patient and their sitter read their own
session, so there is no staff read to audit.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Sitter
from telehealth.dosing.models import DeadlineKind, DoseSession
from telehealth.dosing.operations import UPCOMING, DosingSettings, local_label, pending, when_label
from telehealth.dosing.rules import SessionState
from telehealth.messaging import templates

NOTHING_BOOKED = "You have no session booked. The clinic will text you when one is."
SITTER_NOTHING_BOOKED = "No session is booked for you now. We will text you before the next one."
NOT_NAMED_SITTER = "You are not the sitter named for the next session. Please call the clinic."


def upcoming_session(session: Session, patient_id: int) -> DoseSession | None:
    """The patient's earliest session not yet finished (the one the check-in verbs act on)."""
    return session.scalar(sa.select(DoseSession).where(DoseSession.patient_id == patient_id,
                                                       DoseSession.state.in_(list(UPCOMING)))
                          .order_by(DoseSession.scheduled_at).limit(1))


def active_session(session: Session, patient_id: int) -> DoseSession | None:
    """The patient's session under way (window open to release), if any: for tagging alerts."""
    found = upcoming_session(session, patient_id)
    return found if found is not None and found.state is not SessionState.SCHEDULED else None


def questionnaire_under_way(session: Session, patient_id: int) -> bool:
    """Whether the patient has started a check-in (READY) and not finished it: their plain texts
    are then answers to it."""
    found = upcoming_session(session, patient_id)
    if found is None:
        return False
    if found.state is SessionState.OPEN:
        return found.pre_dose_started_at is not None and found.pre_dose_completed_at is None
    if found.state is SessionState.DOSED:
        return found.post_dose_started_at is not None and found.post_dose_completed_at is None
    return False


def _later_session(session: Session, found: DoseSession) -> DoseSession | None:
    return session.scalar(sa.select(DoseSession).where(
        DoseSession.patient_id == found.patient_id, DoseSession.id != found.id,
        DoseSession.state == SessionState.SCHEDULED, DoseSession.scheduled_at > found.scheduled_at)
        .order_by(DoseSession.scheduled_at).limit(1))


def due_label(session: Session, found: DoseSession, kind: DeadlineKind, usual: datetime) -> str:
    """When the pending deadline of `kind` falls due (a hold release renews them), else the usual time."""
    deadline = pending(session, found, kind)
    return when_label(found, deadline.due_at if deadline is not None else usual)


def patient_summary(session: Session, settings: DosingSettings, patient_id: int) -> str:
    """What the patient is told when they text STATUS."""
    found = upcoming_session(session, patient_id)
    if found is None:
        return NOTHING_BOOKED
    timings, now = settings.timings, clock.now()
    at = when_label(found, found.scheduled_at)
    state = found.state
    if state is SessionState.SCHEDULED:
        opens = found.scheduled_at - timings.window_opens_before
        return (f"Your next session is {local_label(found, found.scheduled_at)}. Your check-in opens at "
                f"{when_label(found, opens)}: text READY then, with your sitter there.")
    if state is SessionState.OPEN:
        if found.pre_dose_completed_at is not None:
            by = due_label(session, found, DeadlineKind.SITTER_ARRIVAL, found.scheduled_at + timings.sitter_arrival_after)
            return f"Your check-in is complete. You will be cleared when your sitter texts HERE, by {by}."
        by = due_label(session, found, DeadlineKind.PRE_DOSE_REPORT, found.scheduled_at + timings.pre_dose_report_after)
        sitter = "Your sitter is there." if found.sitter_arrived_at else "Your sitter texts HERE when they arrive."
        if found.pre_dose_started_at is not None:
            return f"Your session at {at} is open and your check-in is under way: text READY for the next " \
                   f"question, by {by}. {sitter}"
        return f"Your session at {at} is open: text READY for your check-in, by {by}. {sitter}"
    if state is SessionState.CLEARED:
        until = when_label(found, found.cleared_at + timings.dose_taken_within)
        return f"You are cleared for your session at {at}. Text TAKEN once you have taken it, by {until}."
    if state is SessionState.ON_HOLD:
        return f"Your session at {at} is on hold. Please do not take it. Your prescriber will contact you."
    if state is SessionState.DOSED:
        opens = found.dosed_at + timings.post_dose_report_after
        if now < opens:
            return f"Rest with your sitter. Your after-session check-in opens at {when_label(found, opens)}."
        if found.post_dose_started_at is not None:
            return "Your after-session check-in is under way: text READY for the next question."
        return "Your after-session check-in is due now. With your sitter there, text READY to start."
    # OBSERVING: the post-dose report is in; the sitter releases.
    release = when_label(found, found.dosed_at + timings.release_after)
    summary = f"Your after-session check-in is recorded. Rest with your sitter; they can release you from {release}."
    later = _later_session(session, found)
    if later is not None:
        summary += f" Next session: {local_label(later, later.scheduled_at)}."
    return summary


def sitter_summary(session: Session, settings: DosingSettings, sitter_id: int) -> str:
    """What a sitter is told when they text STATUS: the session they sit for and what is due."""
    patient_id = session.scalar(sa.select(Sitter.patient_id).where(Sitter.id == sitter_id))
    found = upcoming_session(session, patient_id) if patient_id is not None else None
    if found is None:
        return SITTER_NOTHING_BOOKED
    if found.sitter_id != sitter_id:
        return NOT_NAMED_SITTER
    timings, now = settings.timings, clock.now()
    at = when_label(found, found.scheduled_at)
    state = found.state
    if state is SessionState.SCHEDULED:
        opens = found.scheduled_at - timings.window_opens_before
        return (f"The next session you sit for is {local_label(found, found.scheduled_at)}. Text HERE when you "
                f"arrive, from {when_label(found, opens)}.")
    if state is SessionState.OPEN:
        if found.sitter_arrived_at is not None:
            return f"Your arrival is recorded for the session at {at}. Please stay for the whole session."
        by = due_label(session, found, DeadlineKind.SITTER_ARRIVAL, found.scheduled_at + timings.sitter_arrival_after)
        return f"The session at {at} is open: text HERE when you arrive, by {by}."
    if state is SessionState.CLEARED:
        return f"They are cleared for the session at {at}. Please stay with them for the whole session."
    if state is SessionState.ON_HOLD:
        return "The session is on hold; nothing will be taken today. The clinic will be in touch."
    # DOSED or OBSERVING: the sitter watches, answers checks and releases.
    if pending(session, found, DeadlineKind.OBSERVATION_ANSWER) is not None:
        return templates.OBSERVATION_QUESTION
    release_from = found.dosed_at + timings.release_after
    if now < release_from:
        return (f"Please stay with them until {when_label(found, release_from)}. Text SOS if they do not "
                f"respond or you are worried.")
    return templates.RELEASE_QUESTION
