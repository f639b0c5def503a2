"""Texts that act on escalations: a prescriber's `ACK [n]` and `RESOLVE n note`, and the alerts
that patients' and sitters' texts raise (SOS, crisis words, opting out mid-course)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth.accounts.models import Patient, PatientStatus
from telehealth.accounts.operations import Party
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dosing import status as dosing_status
from telehealth.dosing.operations import sos_answers_the_check
from telehealth.errors import DomainError, NotAllowed, NotFound
from telehealth.escalations import operations as escalations
from telehealth.escalations.rules import Reason, Severity, outcome_from_note
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import Sms


def actor_of(party: Party) -> Actor:
    """A texting person acts in their own role (compliance officers own compliance alerts)."""
    who = f"user {party.user_id}" if party.user_id else party.kind
    return Actor(user_id=party.user_id, role=party.role or party.kind, label=f"sms from {who}")


def _problem(ctx, error: DomainError, number: int) -> Sms:  # noqa: ANN001
    if isinstance(error, (NotFound, NotAllowed)):
        # The same answer for "no such alert" and "not yours": a text must not confirm that it exists.
        return templates.alert_problem(ctx.clinic, f"We found no alert {number} for you. Check the number.")
    return templates.alert_problem(ctx.clinic, error.message)


def acknowledge_by_sms(session: Session, ctx, party: Party, intent, message: Message) -> Sms:  # noqa: ANN001
    actor = actor_of(party)
    number = intent.number
    if number is None:
        if intent.problem:
            return templates.alert_problem(ctx.clinic, intent.problem)
        pages = escalations.open_pages_for(session, party.user_id)
        if len(pages) != 1:
            listed = ", ".join(str(n) for n in pages[:8]) if pages else "none"
            return templates.alert_problem(ctx.clinic, f"You have {len(pages)} open alerts paged to you "
                                                       f"({listed}). Text ACK and the number.")
        number = pages[0]
    try:
        with session.begin_nested():
            escalations.acknowledge(session, actor, number, channel="sms")
    except DomainError as error:
        return _problem(ctx, error, number)
    return templates.acknowledged(ctx.clinic, number)


def resolve_by_sms(session: Session, ctx, party: Party, intent, message: Message) -> Sms:  # noqa: ANN001
    if intent.problem or intent.number is None or not intent.note:
        return templates.alert_problem(ctx.clinic, intent.problem or "Text RESOLVE, the number and a note.")
    outcome = outcome_from_note(intent.note)
    try:
        with session.begin_nested():
            escalations.resolve(session, actor_of(party), intent.number, outcome=outcome,
                                note=intent.note, channel="sms")
    except DomainError as error:
        return _problem(ctx, error, intent.number)
    return templates.resolved(ctx.clinic, intent.number, outcome.label)


def raise_safety_alert(session: Session, ctx, party: Party, reason: Reason, message: Message) -> None:  # noqa: ANN001
    """SOS or crisis words: always on the audit record; from a patient or sitter, also an urgent
    escalation on that patient, tied to their session when one is under way (its number goes in
    the page, and the session shows it as escalated)."""
    record(session, actor_of(party), AuditAction.SAFETY_ALERT, object_type="message", object_id=message.id,
           patient_id=party.patient_id, details={"reason": reason.value, "party": party.kind})
    if party.patient_id is None:
        return
    under_way = dosing_status.active_session(session, party.patient_id)
    if party.kind == "sitter" and under_way is not None:
        sos_answers_the_check(session, under_way)
    escalations.raise_escalation(session, actor_of(party), ctx.escalations, patient_id=party.patient_id,
                                 reason=reason, severity=Severity.URGENT, sender=party.kind, message_id=message.id,
                                 session_id=under_way.id if under_way else None,
                                 dose_number=under_way.dose_number if under_way else None)


def raise_opt_out_escalation(session: Session, ctx, party: Party, message: Message) -> None:  # noqa: ANN001
    """A patient or sitter who opts out mid-course must be reached another way (SPEC §6)."""
    if party.kind not in ("patient", "sitter") or party.patient_id is None:
        return
    patient = session.get(Patient, party.patient_id)
    if patient is None or patient.status is not PatientStatus.ACTIVE:
        return
    under_way = dosing_status.active_session(session, patient.id)   # its number goes in the page
    escalations.raise_escalation(session, actor_of(party), ctx.escalations, patient_id=patient.id,
                                 reason=Reason.OPTED_OUT_MID_COURSE, severity=Severity.MODERATE,
                                 sender=party.kind, message_id=message.id,
                                 session_id=under_way.id if under_way else None,
                                 dose_number=under_way.dose_number if under_way else None)
