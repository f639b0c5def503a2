"""What every dose-session verb shares: settings, finding and locking a session, moving its state,
its deadlines, its check-ins, and texting its patient and sitter.

The verbs themselves live in `scheduling.py` (booking, cancelling, reading), `checkins.py` (the
answers of patient and sitter, by SMS or web alike) and `deadlines.py` (the scheduler's sweep).
Every verb that changes a session first locks its row, so a check-in racing a deadline, or two
channels answering at once, are decided one after the other: whichever comes first wins.
"""
from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from telehealth import clock
from telehealth.accounts.models import Patient, Sitter
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing import rules
from telehealth.dosing.models import Channel, CheckIn, Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.dosing.rules import Event, Questionnaire, SessionState, Thresholds, Timings
from telehealth.errors import Conflict, NotAllowed, NotFound
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity, State
from telehealth.messaging import outbox
from telehealth.messaging.templates import Sms

OWNER = "dose_session"  # the texts a session sends are owned by it


@dataclass(frozen=True)
class DosingSettings:
    clinic: str
    timings: Timings
    thresholds: Thresholds
    escalations: EscalationSettings
    dispensing: DispensingSettings
    public_base_url: str = ""   # where the sitter's link points (PUBLIC_BASE_URL)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DosingSettings":
        return cls(clinic=config["CLINIC_NAME"], timings=Timings.from_config(config),
                   thresholds=Thresholds.from_config(config), escalations=EscalationSettings.from_config(config),
                   dispensing=DispensingSettings.from_config(config),
                   public_base_url=(config.get("PUBLIC_BASE_URL") or "").rstrip("/"))


class Outcome(enum.Enum):
    """What a check-in did, for the channel to put in words (an SMS reply, a page, JSON)."""

    ASK = "ask"                          # `question` is next
    REST_THEN_ASK = "rest_then_ask"      # first reading high: rest until `at`; meanwhile `question`
    KEEP_RESTING = "keep_resting"        # the recheck is due at `at`, not yet
    WAITING_FOR_SITTER = "waiting_for_sitter"
    CLEARED = "cleared"                  # take it by `at`
    HELD = "held"
    NOT_CLEARED = "not_cleared"          # `problem` says why; the session is cancelled
    ARRIVED = "arrived"
    TAKEN = "taken"                      # the post-dose report is due at `at`
    POST_DOSE_RECORDED = "post_dose_recorded"   # release possible from `at`
    POST_DOSE_URGENT = "post_dose_urgent"
    CHECK_OK = "check_ok"
    STAY_UNTIL = "stay_until"            # release possible from `at`
    RELEASE_NEEDS_READING = "release_needs_reading"   # the OK answered the check; release wants a reading
    RELEASE_URGENT = "release_urgent"    # the reading at release is urgent: escalated, not released
    RELEASED = "released"
    CANCELLED = "cancelled"
    HOLD_RELEASED = "hold_released"
    SOS_RAISED = "sos_raised"            # an urgent alert: the reply says call 911
    TAKEN_AFTER_EXPIRY = "taken_after_expiry"   # recorded although the clearance had expired; paged high


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    dose_session: DoseSession
    question: str | None = None
    at: datetime | None = None
    problem: str | None = None
    crisis: bool = False   # the crisis lines must reach whoever answered


# --- finding and locking -----------------------------------------------------------------

ACTIVE = (SessionState.OPEN, SessionState.CLEARED, SessionState.ON_HOLD, SessionState.DOSED, SessionState.OBSERVING)
UPCOMING = ACTIVE + (SessionState.SCHEDULED,)


def lock_patient(session: Session, patient_id: int) -> Patient | None:
    """Bookings, cancellations and a TAKEN after the clearance lapsed renumber the patient's
    sessions: each takes the patient's lock first (then the sessions'), so they run one after the
    other, never crossing locks. FOR NO KEY UPDATE: it must not block the foreign-key checks of
    rows that name the patient (a text, an audit event) inserted by the sweep."""
    return session.get(Patient, patient_id, with_for_update={"key_share": True})


def lock(session: Session, dose_session_id: int) -> DoseSession:
    """The session row, locked for this transaction and freshly read (another transaction may have
    changed it while we waited for the lock)."""
    found = session.get(DoseSession, dose_session_id, with_for_update=True, populate_existing=True)
    if found is None:
        raise NotFound(f"No dose session {dose_session_id}.")
    return found


def _first(session: Session, query: sa.Select, states: list[SessionState]) -> DoseSession | None:
    """The first session the query finds, locked, and still in one of `states` once locked: a
    sweep (or the other channel) may have moved it while we waited for the lock, and then the
    query is asked again."""
    # The usual case in one round trip (this is every SMS answer's path): the earliest match,
    # locked as it is read, with its patient (the verbs check and word by it). On PostgreSQL a row
    # that changed while we waited for its lock is read as committed and re-checked against the
    # query; the state is checked here again all the same, and anything unexpected (or no match)
    # goes the long way below.
    found = session.scalar(query.order_by(DoseSession.scheduled_at).limit(1)
                           .options(joinedload(DoseSession.patient, innerjoin=True))
                           .with_for_update(of=DoseSession).execution_options(populate_existing=True))
    if found is not None and found.state in states:
        return found
    for _ in range(5):
        found_id = session.scalar(query.with_only_columns(DoseSession.id).order_by(DoseSession.scheduled_at)
                                  .limit(1))
        if found_id is None:
            return None
        found = lock(session, found_id)
        if found.state in states:
            return found
    raise Conflict("Your session changed while we were reading it. Please send that again.")


def patient_session(session: Session, patient_id: int, states: Iterable[SessionState] = ACTIVE) -> DoseSession | None:
    """The patient's earliest session in one of `states`, locked; one left behind by a later
    session whose window has opened is closed first (`close_superseded`)."""
    wanted = list(states)
    query = sa.select(DoseSession).where(DoseSession.patient_id == patient_id, DoseSession.state.in_(wanted))
    for _ in range(3):
        found = _first(session, query, wanted)
        if found is None or not _superseded(session, found) or not close_superseded(session, NEXT_SESSION, found):
            return found
    return _first(session, query, wanted)


NEXT_SESSION = Actor.system("next session")
SUPERSEDABLE = (SessionState.ON_HOLD, *rules.AFTER_DOSE)


def _superseded(session: Session, found: DoseSession) -> bool:
    """A session on hold or after its dose while a later session of the patient has its window open."""
    if found.state not in SUPERSEDABLE:
        return False
    return session.scalar(sa.select(sa.func.count()).select_from(DoseSession).where(
        DoseSession.patient_id == found.patient_id, DoseSession.scheduled_at > found.scheduled_at,
        DoseSession.window_opened_at.is_not(None))) > 0


def close_superseded(session: Session, actor: Actor, earlier: DoseSession) -> bool:
    """End a session the patient's next one has overtaken (its window opened): every check-in goes
    to the patient's earliest unfinished session, and a stale one would take the new session's
    HERE and READY. A hold nobody released is cancelled; a dose never released by the sitter (its
    release deadline passed, escalated) is closed as missed. Their alerts stay open for the
    prescriber, and the record stays incomplete (it holds the next shipment). The caller holds
    `earlier`'s lock. Returns whether it ended it."""
    if earlier.state is SessionState.ON_HOLD:
        earlier.end_reason = "cancelled: the hold was not released before the next session"
        move(session, actor, earlier, Event.CANCEL, reason="next session")
        return True
    if earlier.state in rules.AFTER_DOSE and pending(session, earlier, DeadlineKind.RELEASE) is None:
        earlier.end_reason = "missed: not released by the sitter"
        move(session, actor, earlier, Event.CLOSE_UNRELEASED)
        return True
    return False


def sitter_session(session: Session, sitter_id: int, states: Iterable[SessionState] = ACTIVE) -> DoseSession | None:
    """The earliest session in `states` of the patient this sitter sits for (whoever is named on it)."""
    patient_id = session.scalar(sa.select(Sitter.patient_id).where(Sitter.id == sitter_id))
    return None if patient_id is None else patient_session(session, patient_id, states)


def patients_sitter(session: Session, patient_id: int) -> Sitter | None:
    """The sitter a session is booked with: the patient's first active sitter whose phone is confirmed."""
    return session.scalar(sa.select(Sitter).where(Sitter.patient_id == patient_id, Sitter.active.is_(True),
                                                  Sitter.phone_verified_at.is_not(None)).order_by(Sitter.id).limit(1))


def replace_inactive_sitter(session: Session, actor: Actor, dose_session: DoseSession,
                            texting: int | None = None) -> None:
    """A session whose named sitter the clinic has since deactivated, and who has not arrived, goes
    ahead with the patient's sitter now: the one `texting`, if they are an active sitter of this
    patient with a confirmed phone, else `patients_sitter`; named on it from here on (audited).
    Without this the window's reminder would reach nobody and the new sitter's HERE be refused."""
    if dose_session.sitter.active or dose_session.sitter_arrived_at is not None:
        return
    replacement = session.get(Sitter, texting) if texting is not None else None
    if replacement is None or not (replacement.active and replacement.phone_verified_at is not None
                                   and replacement.patient_id == dose_session.patient_id):
        replacement = patients_sitter(session, dose_session.patient_id)
    if replacement is None:
        return   # no sitter: the arrival deadline will say so
    was, dose_session.sitter = dose_session.sitter_id, replacement
    dose_session.sitter_id = replacement.id   # read at once by the caller, before any flush
    dose_session.sitter_link_hash = None       # the old sitter's link no longer speaks for the session
    record(session, actor, AuditAction.DOSE_SESSION_SITTER_REPLACED, object_type="dose_session",
           object_id=dose_session.id, patient_id=dose_session.patient_id,
           details={"sitter_id": replacement.id, "was": was})


def ensure_is_patient(actor: Actor, patient: Patient) -> None:
    if actor.role == "system" or (actor.role == "patient" and actor.user_id == patient.user_id):
        return
    raise NotAllowed("Only the patient answers their own check-ins.", object_type="patient", object_id=patient.id,
                     patient_id=patient.id, hide_existence=True)


# --- the sitter's web link ----------------------------------------------------------------

SITTER_LINK_PATH = "/s/"


def link_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_sitter_link(settings: DosingSettings, dose_session: DoseSession) -> str:
    """A fresh link for the session's sitter, replacing any earlier one: 128 random bits, of which
    only the hash is stored. It works while the session is under way (`session_of_link`)."""
    token = secrets.token_urlsafe(16)
    dose_session.sitter_link_hash = link_hash(token)
    return f"{settings.public_base_url}{SITTER_LINK_PATH}{token}"


def session_of_link(session: Session, token: str) -> DoseSession | None:
    if not token or len(token) > 64:
        return None
    return session.scalar(sa.select(DoseSession).where(DoseSession.sitter_link_hash == link_hash(token)))


# --- moving the state --------------------------------------------------------------------

def move(session: Session, actor: Actor, dose_session: DoseSession, event: Event, **details: Any) -> None:
    before = dose_session.state
    dose_session.state = rules.next_state(before, event)
    if dose_session.state.finished:
        dose_session.ended_at = clock.now()
        cancel_deadlines(session, dose_session)
    record(session, actor, AuditAction.DOSE_SESSION_STATE_CHANGED, object_type="dose_session",
           object_id=dose_session.id, patient_id=dose_session.patient_id,
           details={"from": before.value, "to": dose_session.state.value, "event": event.value, **details})


# --- deadlines ---------------------------------------------------------------------------

def add_deadline(session: Session, dose_session: DoseSession, kind: DeadlineKind, due_at: datetime) -> Deadline:
    """A pending deadline, inserted at the next flush (a verb adding several inserts them in one
    statement; any query, the sweep's included, flushes first)."""
    deadline = Deadline(dose_session_id=dose_session.id, kind=kind, due_at=due_at, state=DeadlineState.PENDING)
    session.add(deadline)
    return deadline


def settle(session: Session, dose_session: DoseSession, kinds: Iterable[DeadlineKind], state: DeadlineState,
           note: str | None = None) -> int:
    """Settle the session's pending deadlines of `kinds` (met, or cancelled); returns how many."""
    result = session.execute(sa.update(Deadline).where(
        Deadline.dose_session_id == dose_session.id, Deadline.kind.in_(list(kinds)),
        Deadline.state == DeadlineState.PENDING).values(state=state, settled_at=clock.now(), note=note)
        .execution_options(synchronize_session=False))
    return result.rowcount


def sos_answers_the_check(session: Session, dose_session: DoseSession, answer: str = "SOS") -> None:
    """The observation check asks for OK, or SOS if not (SPEC §4): a sitter's SOS (or NOT OK, the
    `answer` kept on it) answers it, and must not be paged a second time as "no answer"."""
    if dose_session.state in rules.AFTER_DOSE:
        settle(session, dose_session, [DeadlineKind.OBSERVATION_ANSWER], DeadlineState.MET, note=answer)


def cancel_deadlines(session: Session, dose_session: DoseSession) -> None:
    settle(session, dose_session, list(DeadlineKind), DeadlineState.CANCELLED, note="session ended")


def pending(session: Session, dose_session: DoseSession, kind: DeadlineKind) -> Deadline | None:
    return session.scalar(sa.select(Deadline).where(Deadline.dose_session_id == dose_session.id,
                                                    Deadline.kind == kind, Deadline.state == DeadlineState.PENDING)
                          .order_by(Deadline.due_at).limit(1))


# --- check-ins ---------------------------------------------------------------------------

def add_check_in(session: Session, actor: Actor, dose_session: DoseSession, kind: str, *, by: str,
                 channel: Channel, payload: dict[str, Any] | None = None, message_id: int | None = None,
                 sitter_id: int | None = None) -> CheckIn:
    check_in = CheckIn(dose_session_id=dose_session.id, kind=kind, by=by, actor_user_id=actor.user_id,
                       sitter_id=sitter_id, channel=channel, received_at=clock.now(), payload=payload or {},
                       message_id=message_id)
    session.add(check_in)
    session.flush()
    # The audit names what was answered, not the answer: the check-in row keeps the value.
    record(session, actor, AuditAction.DOSE_SESSION_CHECK_IN, object_type="dose_session", object_id=dose_session.id,
           patient_id=dose_session.patient_id, details={"kind": kind, "channel": channel.value})
    return check_in


def answers(session: Session, dose_session: DoseSession, questionnaire: Questionnaire) -> dict[str, Any]:
    """The questionnaire's answers so far, by question key (the first answer to each wins)."""
    prefix = questionnaire.value + "."
    found: dict[str, Any] = {}
    for kind, payload in session.execute(sa.select(CheckIn.kind, CheckIn.payload).where(
            CheckIn.dose_session_id == dose_session.id, CheckIn.kind.startswith(prefix)).order_by(CheckIn.id)):
        found.setdefault(kind[len(prefix):], payload.get("value"))
    return found


def first_answer_at(session: Session, dose_session: DoseSession, kind: str) -> datetime | None:
    return session.scalar(sa.select(sa.func.min(CheckIn.received_at)).where(
        CheckIn.dose_session_id == dose_session.id, CheckIn.kind == kind))


# --- texting and escalating --------------------------------------------------------------

def text_patient(session: Session, dose_session: DoseSession, sms: Sms) -> None:
    phone = dose_session.patient.phone
    if phone:
        outbox.enqueue(session, to=phone, sms=sms, owner_type=OWNER, owner_id=dose_session.id,
                       patient_id=dose_session.patient_id)


def text_sitter(session: Session, dose_session: DoseSession, sms: Sms) -> None:
    if dose_session.sitter.active:
        outbox.enqueue(session, to=dose_session.sitter.phone, sms=sms, owner_type=OWNER, owner_id=dose_session.id,
                       patient_id=dose_session.patient_id)


def escalate(session: Session, actor: Actor, settings: DosingSettings, dose_session: DoseSession, reason: Reason,
             severity: Severity, **details: Any) -> Escalation:
    return escalations.raise_escalation(session, actor, settings.escalations, patient_id=dose_session.patient_id,
                                        reason=reason, severity=severity, session_id=dose_session.id,
                                        dose_number=dose_session.dose_number, **details)


def acknowledge_hold_alert(session: Session, actor: Actor, dose_session: DoseSession, *, channel: str) -> None:
    """A prescriber who releases or cancels a held session has seen its alert: paging stops (the
    backup and those on call are not woken for a decision already made). Resolving it, with an
    outcome, stays theirs to do."""
    for escalation in open_escalations(session, dose_session.id):
        if escalation.reason is Reason.PRE_DOSE_HOLD and escalation.state is State.OPEN:
            try:
                escalations.acknowledge(session, actor, escalation.id, channel=channel)
            except Conflict:
                pass   # acknowledged meanwhile (an ACK by text at the same moment): nothing left to stop


def open_escalations(session: Session, dose_session_id: int) -> list[Escalation]:
    """The "escalated" flag of a session: its escalations not yet resolved."""
    return list(session.scalars(sa.select(Escalation).where(Escalation.session_id == dose_session_id,
                                                            Escalation.state != State.RESOLVED)
                                .order_by(Escalation.id)))


def local_label(dose_session: DoseSession, moment: datetime) -> str:
    return rules.local_label(moment, dose_session.patient.timezone)


def clock_label(dose_session: DoseSession, moment: datetime) -> str:
    return rules.clock_label(moment, dose_session.patient.timezone)


def when_label(dose_session: DoseSession, moment: datetime) -> str:
    """A time of day for today ("9:30 AM"); with the day and zone for any other day."""
    zone = dose_session.patient.timezone
    if rules.to_local(moment, zone).date() == rules.to_local(clock.now(), zone).date():
        return clock_label(dose_session, moment)
    return local_label(dose_session, moment)
