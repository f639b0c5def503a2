"""Texts about dose sessions (SPEC §4, §6): the sitter's `HERE` and `OK`, the patient's `READY`,
questionnaire answers, `TAKEN`, `SKIP`, and `STATUS` from either.

Each handler calls one verb of the dosing room (the same the web pages call) inside a savepoint,
and words its `Result` as the reply. A refused text (a Conflict or an answer that cannot be read)
rolls its savepoint back, so nothing is stored from it, and is answered with what to send instead.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy.orm import Session

from telehealth.accounts.operations import Party
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dosing import checkins, rules, scheduling, status
from telehealth.dosing.models import Channel
from telehealth.dosing.operations import Outcome, Result
from telehealth.errors import DomainError, NotAllowed
from telehealth.inbound.alerts import actor_of
from telehealth.inbound.parsing import Intent, Kind
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import Sms

# A keyword from the wrong person: what it is for, and what they can text instead.
FOR_THE_SITTER = {
    Kind.HERE: "HERE is for your sitter to text when they arrive. You can text READY, TAKEN, STATUS or SKIP.",
    Kind.OK: "OK is for your sitter to text. You can text READY, TAKEN, STATUS or SKIP, or SOS for urgent help.",
}
FOR_THE_PATIENT = "That word is for the patient to text. You can text HERE, OK, STATUS, or SOS if you are worried."
NOT_NOW = "We could not do that by text. Please call the clinic."


def _refused(session: Session, ctx, party: Party, error: DomainError, message: Message) -> Sms:  # noqa: ANN001
    if isinstance(error, NotAllowed):
        # Refusals are audited, as on the web; the reply does not say what exists.
        record(session, actor_of(party), AuditAction.ACCESS_REFUSED, object_type=error.object_type,
               object_id=error.object_id, patient_id=error.patient_id,
               details={"channel": "sms", "message_id": message.id, "reason": error.message})
        return templates.check_in_problem(ctx.clinic, NOT_NOW)
    # An unreadable answer names its question: its message is what to send instead, with an example.
    return templates.check_in_problem(ctx.clinic, error.message)


def _act(session: Session, ctx, party: Party, message: Message,  # noqa: ANN001
         verb: Callable[[], Result]) -> Result | Sms:
    try:
        with session.begin_nested():   # a refused check-in writes nothing
            return verb()
    except DomainError as error:
        return _refused(session, ctx, party, error, message)


def reply_for(ctx, result: Result) -> Sms:  # noqa: ANN001
    """A check-in's outcome, worded for the person who texted."""
    clinic, found, outcome = ctx.clinic, result.dose_session, result.outcome

    def at() -> str:
        return status.when_label(found, result.at)

    if outcome is Outcome.ASK:
        return templates.question(clinic, result.question)
    if outcome is Outcome.REST_THEN_ASK:
        return templates.rest_then_next(clinic, at(), result.question)
    if outcome is Outcome.KEEP_RESTING:
        return templates.keep_resting(clinic, at())
    if outcome is Outcome.WAITING_FOR_SITTER:
        return templates.waiting_for_sitter(clinic)
    if outcome is Outcome.CLEARED:
        return templates.cleared(clinic, at())
    if outcome is Outcome.HELD:
        return templates.crisis_reply(clinic) if result.crisis else templates.held(clinic)
    if outcome is Outcome.NOT_CLEARED:
        return templates.not_cleared(clinic, result.problem or checkins.NOT_ACTIVE)
    if outcome is Outcome.ARRIVED:
        return templates.sitter_arrived(clinic)
    if outcome is Outcome.TAKEN:
        return templates.taken_recorded(clinic, at())
    if outcome is Outcome.TAKEN_AFTER_EXPIRY:
        return templates.taken_after_expiry(clinic)
    if outcome is Outcome.POST_DOSE_RECORDED:
        return templates.post_dose_recorded(clinic, at())
    if outcome is Outcome.POST_DOSE_URGENT:
        return templates.crisis_reply(clinic) if result.crisis else templates.post_dose_urgent(clinic)
    if outcome is Outcome.CHECK_OK:
        return templates.observation_ok(clinic)
    if outcome is Outcome.STAY_UNTIL:
        return templates.stay_until(clinic, at())
    if outcome is Outcome.RELEASE_NEEDS_READING:
        return templates.release_needs_reading(clinic)
    if outcome in (Outcome.RELEASE_URGENT, Outcome.SOS_RAISED):
        return templates.sos_reply(clinic)
    if outcome is Outcome.RELEASED:
        return templates.released(clinic)
    if outcome is Outcome.CANCELLED:
        return templates.session_cancelled(clinic, at())
    if outcome is Outcome.HOLD_RELEASED:
        return templates.hold_released(clinic)
    raise ValueError(f"no SMS wording for the check-in outcome {outcome.value}")


def _run(session: Session, ctx, party: Party, message: Message, verb: Callable[[], Result]) -> Sms:  # noqa: ANN001
    done = _act(session, ctx, party, message, verb)
    return done if isinstance(done, Sms) else reply_for(ctx, done)


def _is_patient(party: Party) -> bool:
    return party.kind == "patient" and party.patient_id is not None


def _is_sitter(party: Party) -> bool:
    return party.kind == "sitter" and party.sitter_id is not None


def _not_for_you(ctx, party: Party, intent: Intent) -> Sms:  # noqa: ANN001
    if _is_patient(party) and intent.kind in FOR_THE_SITTER:
        return templates.check_in_problem(ctx.clinic, FOR_THE_SITTER[intent.kind])
    if _is_sitter(party):
        return templates.check_in_problem(ctx.clinic, FOR_THE_PATIENT)
    return templates.help_text(ctx.clinic, party.kind)


# --- the sitter ------------------------------------------------------------------------------

def here_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if not _is_sitter(party):
        return _not_for_you(ctx, party, intent)
    return _run(session, ctx, party, message, lambda: checkins.sitter_here(
        session, actor_of(party), ctx.dosing, party.sitter_id, channel=Channel.SMS, message_id=message.id))


def ok_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if not _is_sitter(party):
        return _not_for_you(ctx, party, intent)
    if intent.problem:
        return templates.check_in_problem(ctx.clinic, intent.problem)
    return _run(session, ctx, party, message, lambda: checkins.sitter_ok(
        session, actor_of(party), ctx.dosing, party.sitter_id, channel=Channel.SMS, message_id=message.id,
        reading=intent.reading))


# --- the patient -----------------------------------------------------------------------------

def ready_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if not _is_patient(party):
        return _not_for_you(ctx, party, intent)
    return _run(session, ctx, party, message,
                lambda: checkins.start(session, actor_of(party), ctx.dosing, party.patient_id))


def answer_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    """One answer to the question the patient was asked; an unreadable one is asked again."""
    if not _is_patient(party):
        return _not_for_you(ctx, party, intent)
    return _run(session, ctx, party, message, lambda: checkins.answer(
        session, actor_of(party), ctx.dosing, party.patient_id, intent.text, channel=Channel.SMS,
        message_id=message.id))


def taken_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if not _is_patient(party):
        return _not_for_you(ctx, party, intent)
    return _run(session, ctx, party, message, lambda: checkins.taken(
        session, actor_of(party), ctx.dosing, party.patient_id, channel=Channel.SMS, message_id=message.id))


def skip_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if not _is_patient(party):
        return _not_for_you(ctx, party, intent)
    return _run(session, ctx, party, message,
                lambda: scheduling.skip(session, actor_of(party), ctx.dosing, party.patient_id))


# --- either ----------------------------------------------------------------------------------

def status_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if _is_patient(party):
        return templates.status(ctx.clinic, status.patient_summary(session, ctx.dosing, party.patient_id))
    if _is_sitter(party):
        return templates.status(ctx.clinic, status.sitter_summary(session, ctx.dosing, party.sitter_id))
    return templates.help_text(ctx.clinic, party.kind)


# What a sitter may answer "does the patient respond to their name?" with, meaning they do not.
NOT_OK = {"n", "not ok", "not okay", "no they don't", "no they do not", "no response", "not responding"}


def sitter_says_not_ok(session: Session, party: Party, intent: Intent) -> bool:
    """A sitter's NO (or "not ok") while the patient is after their dose (SPEC §4: urgent)."""
    if not _is_sitter(party) or intent.kind not in (Kind.ANSWER, Kind.UNKNOWN):
        return False
    if intent.text.casefold().replace("\u2019", "'") not in NOT_OK:   # a phone's curly apostrophe
        return False
    under_way = status.active_session(session, party.patient_id)
    return under_way is not None and under_way.state in rules.AFTER_DOSE


def not_ok_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    return _run(session, ctx, party, message, lambda: checkins.sitter_not_ok(
        session, actor_of(party), ctx.dosing, party.sitter_id, channel=Channel.SMS, message_id=message.id))


def question_now(session: Session, ctx, party: Party) -> str | None:  # noqa: ANN001
    """The question open for this person now, to ask again (after YES, which opts in): the
    patient's check-in question, or the sitter's observation or release one."""
    if _is_sitter(party):
        return checkins.sitter_question_now(session, party.sitter_id)
    if not _is_patient(party):
        return None
    return checkins.question_now(session, ctx.dosing, party.patient_id)


def acted_on_when_opted_out(session: Session, party: Party, intent: Intent) -> bool:
    """What is still acted on, unanswered, from a number that opted out: what happened (a patient's
    TAKEN or answer, a sitter's OK or NOT OK after the dose). Not a sitter's HERE: the observation
    checks could not reach them, so they may not be the one the patient is cleared on."""
    if _is_patient(party):
        return intent.kind is Kind.TAKEN or takes_answer(session, party, intent)
    if _is_sitter(party):
        return intent.kind is Kind.OK or sitter_says_not_ok(session, party, intent)
    return False


def takes_answer(session: Session, party: Party, intent: Intent) -> bool:
    """Whether a plain text from this party is a questionnaire answer: a patient's value always
    (with no check-in under way they are told what to text), anything else they send only while
    a check-in is under way (so "128/" or "abc" is asked again rather than answered with HELP)."""
    if not _is_patient(party):
        return False
    if intent.kind is Kind.ANSWER:
        return True
    return intent.kind is Kind.UNKNOWN and status.questionnaire_under_way(session, party.patient_id)


HANDLERS = {
    Kind.HERE: here_by_sms,
    Kind.OK: ok_by_sms,
    Kind.READY: ready_by_sms,
    Kind.TAKEN: taken_by_sms,
    Kind.SKIP: skip_by_sms,
    Kind.STATUS: status_by_sms,
}
