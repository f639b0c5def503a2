"""The scheduler's sweep of due deadlines (SPEC §4, §7): windows open, reminders go out, and what
was missed is escalated, each exactly once.

Exactly once, with any number of scheduler processes: a deadline is handled only while its
session row is locked (the same lock every check-in takes), and is claimed (pending -> settled,
an UPDATE that re-reads the row) before its handler runs. The sweep takes due deadlines in
batches (`lock_due`): one query locks the sessions of the oldest due deadlines, skipping sessions
another transaction holds (another sweeper takes those, or a check-in is deciding them; they are
taken on the next pass), and the batch's effects commit together. `process` handles one deadline
by id (the fallback when a batch fails). A scheduler that was down finds everything that fell due
meanwhile and handles it in due order; reminders whose moment has passed are not sent late.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from telehealth import clock
from telehealth.accounts.models import Patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dosing import rules
from telehealth.dosing.models import Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.dosing.operations import (DosingSettings, add_deadline, answers, clock_label, close_superseded,
                                          escalate, lock,
                                          move, new_sitter_link, replace_inactive_sitter, text_patient,
                                          text_sitter)
from telehealth.dosing.rules import Event, SessionState
from telehealth.escalations.rules import Reason, Severity
from telehealth.messaging import templates

SWEEP = Actor.system("deadline sweep")


def due_deadline_ids(session: Session, limit: int = 500) -> list[int]:
    return list(session.scalars(sa.select(Deadline.id).where(
        Deadline.state == DeadlineState.PENDING, Deadline.due_at <= clock.now())
        .order_by(Deadline.due_at, Deadline.id).limit(limit)))


def handle_due(session: Session, settings: DosingSettings) -> None:
    """Every deadline due now, handled in the caller's transaction, in due order: for the demo's
    seed and for tests that set a scene, not the scheduler (which sweeps in batches of their own
    transactions: `dosing.jobs`)."""
    for deadline_id in due_deadline_ids(session):
        process(session, settings, deadline_id)


def next_due_at(session: Session, exclude: Iterable[int] = ()) -> datetime | None:
    query = sa.select(sa.func.min(Deadline.due_at)).where(Deadline.state == DeadlineState.PENDING)
    if exclude:
        query = query.where(Deadline.id.not_in(list(exclude)))
    return session.scalar(query)


def lock_due(session: Session, limit: int, exclude: Iterable[int] = ()) -> list[tuple[Deadline, DoseSession]]:
    """The oldest due deadlines (at most `limit`) with their sessions locked and freshly read, and
    each session's patient (with the login holding the phone) and sitter loaded, as the handlers
    text them. Sessions locked by another transaction are skipped, not waited for (on PostgreSQL;
    on SQLite the IMMEDIATE transaction already holds the only write lock)."""
    return [(deadline, found) for deadline, found in session.execute(lock_due_query(limit, exclude))]


def lock_due_query(limit: int, exclude: Iterable[int] = ()) -> sa.Select:
    query = (sa.select(Deadline, DoseSession).join(DoseSession, DoseSession.id == Deadline.dose_session_id)
             .where(Deadline.state == DeadlineState.PENDING, Deadline.due_at <= clock.now())
             .order_by(Deadline.due_at, Deadline.id).limit(limit)
             .with_for_update(of=DoseSession, skip_locked=True)
             .options(selectinload(DoseSession.patient).selectinload(Patient.user),
                      selectinload(DoseSession.sitter))
             .execution_options(populate_existing=True))
    if exclude:
        query = query.where(Deadline.id.not_in(list(exclude)))
    return query


def process(session: Session, settings: DosingSettings, deadline_id: int) -> DeadlineState | None:
    """Handle one due deadline; None when another sweeper already did (or it is not due)."""
    session_id = session.scalar(sa.select(Deadline.dose_session_id).where(Deadline.id == deadline_id))
    if session_id is None:
        return None
    found = lock(session, session_id)
    deadline = session.get(Deadline, deadline_id, populate_existing=True)
    return handle(session, settings, found, deadline)


def handle(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> DeadlineState | None:
    """Handle a due deadline whose session this transaction has locked; None when it is settled
    already (by another sweeper before we took the lock, or by its twin in this batch) or not due."""
    if deadline.state is not DeadlineState.PENDING or deadline.due_at > clock.now():
        return None
    # The claim first, so the handler's own bookkeeping (a session that ends cancels its pending
    # deadlines) leaves this one be. Only a pending row changes: the UPDATE reads the row as last
    # committed (the state we loaded may predate a sweeper that committed just before our lock),
    # and on PostgreSQL the session lock serializes us with every other writer of this session's
    # deadlines; on SQLite (FOR UPDATE means nothing) the IMMEDIATE transaction does.
    now = clock.now()
    claimed = session.execute(sa.update(Deadline).where(Deadline.id == deadline.id,
                                                        Deadline.state == DeadlineState.PENDING)
                              .values(state=DeadlineState.MET, settled_at=now)
                              .execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return None
    state, note = HANDLERS[deadline.kind](session, settings, found, deadline)
    if (state, note) != (DeadlineState.MET, None):
        session.execute(sa.update(Deadline).where(Deadline.id == deadline.id).values(state=state, note=note)
                        .execution_options(synchronize_session=False))
    if state is DeadlineState.MISSED:
        record(session, SWEEP, AuditAction.DEADLINE_MISSED, object_type="dose_session", object_id=found.id,
               patient_id=found.patient_id, details={"deadline": deadline.kind.value, "deadline_id": deadline.id})
    return state


# The deadlines whose passing changes what a check-in may do: a window that opened, and every
# step that was missed. Reminders are left to the sweep (a late one is not worth a text now).
DECIDING = (DeadlineKind.WINDOW_OPENS, DeadlineKind.SITTER_ARRIVAL, DeadlineKind.PRE_DOSE_REPORT,
            DeadlineKind.DOSE_TAKEN, DeadlineKind.POST_DOSE_REPORT, DeadlineKind.OBSERVATION_ANSWER,
            DeadlineKind.RELEASE)


def catch_up(session: Session, settings: DosingSettings, found: DoseSession) -> None:
    """Handle the session's deadlines that are due but not swept yet (a scheduler behind, or down
    and not yet restarted), as the sweep would, before a check-in acts on the session: a TAKEN
    45 minutes after clearance must meet an expired clearance, not a late sweep that finds the dose
    taken and counts the deadline met. The caller holds the session's lock. If the check-in is then
    refused and rolled back, the sweep does the same on its next pass."""
    for deadline in session.scalars(sa.select(Deadline).where(
            Deadline.dose_session_id == found.id, Deadline.state == DeadlineState.PENDING,
            Deadline.due_at <= clock.now(), Deadline.kind.in_(DECIDING)).order_by(Deadline.due_at, Deadline.id)):
        handle(session, settings, found, deadline)


# Each handler returns the state its deadline settles in, with a note. It runs after the claim,
# so the session's own bookkeeping (cancelling pending deadlines when it ends) leaves this one be.

Handled = tuple[DeadlineState, "str | None"]


def _stale(settings: DosingSettings, deadline: Deadline) -> bool:
    return clock.now() - deadline.due_at > settings.timings.reminder_stale_after


def _remind(settings: DosingSettings, deadline: Deadline, send) -> Handled:  # noqa: ANN001
    if _stale(settings, deadline):
        return DeadlineState.CANCELLED, "too late to send"
    send()
    return DeadlineState.MET, None


def _window_opens(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state is not SessionState.SCHEDULED:
        return DeadlineState.CANCELLED, found.state.value
    move(session, SWEEP, found, Event.OPEN_WINDOW)
    found.window_opened_at = clock.now()
    _close_earlier(session, found)
    replace_inactive_sitter(session, SWEEP, found)
    time = clock_label(found, found.scheduled_at)

    # The window's reminder is worth sending late while the session can still go ahead (a
    # scheduler a few minutes behind); not once its check-in deadlines have passed too.
    if clock.now() >= found.scheduled_at + min(settings.timings.sitter_arrival_after,
                                               settings.timings.pre_dose_report_after):
        return DeadlineState.CANCELLED, "too late to send"
    text_patient(session, found, templates.window_open_patient(settings.clinic, time))
    text_sitter(session, found, templates.window_open_sitter(settings.clinic, time,
                                                             new_sitter_link(settings, found)))
    return DeadlineState.MET, None


def _close_earlier(session: Session, found: DoseSession) -> None:
    """The patient's earlier sessions still on hold, or dosed and never released, end when their
    next window opens (`operations.close_superseded`)."""
    stale = session.scalars(sa.select(DoseSession).where(
        DoseSession.patient_id == found.patient_id, DoseSession.scheduled_at < found.scheduled_at,
        DoseSession.state.in_([SessionState.ON_HOLD, *rules.AFTER_DOSE]))
        # Skipping a session another transaction holds (a prescriber cancelling it, a check-in):
        # waiting could cross that transaction's locks. The check-in closes it itself
        # (`operations.patient_session`), and so does the next one to find it.
        .order_by(DoseSession.scheduled_at).with_for_update(skip_locked=True))
    for earlier in stale:
        close_superseded(session, SWEEP, earlier)


def _before_dose_missing(found: DoseSession) -> list[str]:
    missing = []
    if found.sitter_arrived_at is None:
        missing.append("sitter arrival")
    if found.pre_dose_completed_at is None:
        missing.append("pre-dose report")
    return missing


def _arrival_or_report(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    """Sitter arrival and the pre-dose report share a deadline by default: whichever is swept
    first escalates once for the session (naming both if both are missing) and marks it missed."""
    met = found.sitter_arrived_at if deadline.kind is DeadlineKind.SITTER_ARRIVAL else found.pre_dose_completed_at
    if met is not None:
        return DeadlineState.MET, None
    if found.state not in (SessionState.SCHEDULED, SessionState.OPEN):
        # Already missed through its twin, or on hold (the prescriber has it), or cancelled.
        return (DeadlineState.MISSED, "session already missed") if found.state is SessionState.MISSED \
            else (DeadlineState.CANCELLED, found.state.value)
    missing = _before_dose_missing(found)
    reason = Reason.MISSED_SITTER_ARRIVAL if found.sitter_arrived_at is None else Reason.MISSED_PRE_DOSE_REPORT
    escalate(session, SWEEP, settings, found, reason, Severity.MODERATE, missing=missing)
    # The twin deadline, if due too and unmet, is missed with this one rather than cancelled.
    twin = DeadlineKind.PRE_DOSE_REPORT if deadline.kind is DeadlineKind.SITTER_ARRIVAL else DeadlineKind.SITTER_ARRIVAL
    if len(missing) == 2:
        session.execute(sa.update(Deadline).where(
            Deadline.dose_session_id == found.id, Deadline.kind == twin, Deadline.state == DeadlineState.PENDING,
            Deadline.due_at <= clock.now()).values(state=DeadlineState.MISSED, settled_at=clock.now(),
                                                   note="missed with its twin")
            .execution_options(synchronize_session=False))
    found.end_reason = "missed: no " + " and no ".join(missing)   # before the move: one UPDATE of the row
    move(session, SWEEP, found, Event.MISS, missing=missing)
    text_patient(session, found, templates.session_missed(settings.clinic))
    text_sitter(session, found, templates.session_missed_sitter(settings.clinic))
    return DeadlineState.MISSED, None


def _bp_recheck(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state is not SessionState.OPEN or found.pre_dose_completed_at is not None:
        return DeadlineState.CANCELLED, found.state.value
    given = answers(session, found, rules.Questionnaire.PRE_DOSE)
    if rules.questions_left(rules.Questionnaire.PRE_DOSE, given, settings.thresholds)[0] \
            is not rules.BLOOD_PRESSURE_RECHECK:
        # One question per message (SPEC §6): the patient is still answering the others, and the
        # recheck is asked as soon as they are done.
        return DeadlineState.CANCELLED, "other questions first"
    return _remind(settings, deadline, lambda: text_patient(
        session, found, templates.question(settings.clinic, rules.BLOOD_PRESSURE_RECHECK.key)))


def _dose_taken_reminder(session: Session, settings: DosingSettings, found: DoseSession,
                         deadline: Deadline) -> Handled:
    if found.state is not SessionState.CLEARED:
        return DeadlineState.CANCELLED, found.state.value
    until = found.cleared_at + settings.timings.dose_taken_within
    return _remind(settings, deadline, lambda: text_patient(
        session, found, templates.taken_soon(settings.clinic, clock_label(found, until))))


def _dose_taken(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state is not SessionState.CLEARED:
        return (DeadlineState.MET, None) if found.dosed_at else (DeadlineState.CANCELLED, found.state.value)
    escalate(session, SWEEP, settings, found, Reason.MISSED_DOSE_TAKEN, Severity.LOW)
    found.end_reason = "missed: clearance expired"
    move(session, SWEEP, found, Event.EXPIRE_CLEARANCE)
    text_patient(session, found, templates.clearance_expired(settings.clinic))
    text_sitter(session, found, templates.session_missed_sitter(settings.clinic))
    return DeadlineState.MISSED, None


def _prompt(answer_by: datetime, send) -> Handled:  # noqa: ANN001
    """A prompt that asks for what a later deadline wants: worth sending late (a scheduler behind)
    for as long as the answer can still come in time, unlike a plain reminder."""
    if clock.now() >= answer_by:
        return DeadlineState.CANCELLED, "too late to send"
    send()
    return DeadlineState.MET, None


def _post_dose_prompt(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state is not SessionState.DOSED or found.post_dose_completed_at is not None:
        return DeadlineState.CANCELLED, found.state.value
    timings = settings.timings
    return _prompt(found.dosed_at + timings.post_dose_report_after + timings.post_dose_grace,
                   lambda: text_patient(session, found, templates.post_dose_due(settings.clinic)))


def _post_dose_report(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.post_dose_completed_at is not None:
        return DeadlineState.MET, None
    escalate(session, SWEEP, settings, found, Reason.MISSED_POST_DOSE_REPORT, Severity.HIGH)
    return DeadlineState.MISSED, None


def _observation_check(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state not in rules.AFTER_DOSE:
        return DeadlineState.CANCELLED, found.state.value
    now, timings = clock.now(), settings.timings
    # From the release time on, the release prompt asks the sitter the same and more.
    release_from = found.dosed_at + timings.release_after
    if now >= release_from:
        return DeadlineState.CANCELLED, "release due"
    # Asked even when late (its safety purpose stands), with a full answer window from now; the
    # next check follows on its schedule, or a full interval from now after a stall.
    text_sitter(session, found, templates.observation_check(settings.clinic))
    add_deadline(session, found, DeadlineKind.OBSERVATION_ANSWER, max(deadline.due_at, now) + timings.observation_answer)
    following = deadline.due_at + timings.observation_every
    following = following if following > now else now + timings.observation_every
    if following < release_from:
        add_deadline(session, found, DeadlineKind.OBSERVATION_CHECK, following)
    return DeadlineState.MET, None


def _observation_answer(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state not in rules.AFTER_DOSE:
        return DeadlineState.CANCELLED, found.state.value
    escalate(session, SWEEP, settings, found, Reason.MISSED_OBSERVATION_CHECK, Severity.HIGH)
    return DeadlineState.MISSED, None


def _release_prompt(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.state not in rules.AFTER_DOSE:
        return DeadlineState.CANCELLED, found.state.value
    timings = settings.timings
    return _prompt(found.dosed_at + timings.release_after + timings.release_grace,
                   lambda: text_sitter(session, found, templates.release_due(settings.clinic)))


def _release(session: Session, settings: DosingSettings, found: DoseSession, deadline: Deadline) -> Handled:
    if found.released_at is not None:
        return DeadlineState.MET, None
    if found.state not in rules.AFTER_DOSE:
        return DeadlineState.CANCELLED, found.state.value
    escalate(session, SWEEP, settings, found, Reason.MISSED_RELEASE, Severity.HIGH)
    return DeadlineState.MISSED, None


HANDLERS = {
    DeadlineKind.WINDOW_OPENS: _window_opens,
    DeadlineKind.SITTER_ARRIVAL: _arrival_or_report,
    DeadlineKind.PRE_DOSE_REPORT: _arrival_or_report,
    DeadlineKind.BP_RECHECK: _bp_recheck,
    DeadlineKind.DOSE_TAKEN_REMINDER: _dose_taken_reminder,
    DeadlineKind.DOSE_TAKEN: _dose_taken,
    DeadlineKind.POST_DOSE_PROMPT: _post_dose_prompt,
    DeadlineKind.POST_DOSE_REPORT: _post_dose_report,
    DeadlineKind.OBSERVATION_CHECK: _observation_check,
    DeadlineKind.OBSERVATION_ANSWER: _observation_answer,
    DeadlineKind.RELEASE_PROMPT: _release_prompt,
    DeadlineKind.RELEASE: _release,
}
assert set(HANDLERS) == set(DeadlineKind), "every kind of deadline has a handler"
