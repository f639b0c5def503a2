"""Routing an inbound SMS: who sent it, what it means, which room acts on it.

Consent words come first and always win (carriers reserve them). Then safety: `SOS` or a crisis
phrase in any text raises an alert and gets the crisis reply, whatever else was going on. Then
the intent goes to the room that owns it (`HANDLERS`). A patient's plain values, and while a
check-in is under way anything else they text ("128/", "abc"), are answers to its questionnaire;
a sitter's first value is the code that confirms their phone while one waits. An intent nobody
handles is answered with HELP.

Every text routed here is audited (SMS_RECEIVED: who sent it and which keyword, never the body),
and so is the reply handed back in the webhook's answer (SMS_SENT): one row each.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable

from sqlalchemy.orm import Session

from telehealth.accounts.operations import Party, who_is_texting
from telehealth.accounts.rules import normalize_phone
from telehealth.accounts.sitters import SitterSettings
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing.operations import DosingSettings
from telehealth.errors import RuleViolation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason
from telehealth.inbound import alerts, dosing, receipts, sitters
from telehealth.inbound.parsing import Intent, Kind, mentions_crisis, parse
from telehealth.messaging import consent, outbox, templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import Sms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundContext:
    """Settings the router needs, from config, passed in."""

    clinic: str
    default_region: str
    crisis_phrases: tuple[str, ...]
    escalations: EscalationSettings
    dispensing: DispensingSettings
    sitters: SitterSettings
    dosing: DosingSettings


Handler = Callable[[Session, InboundContext, Party, Intent, Message], Sms | None]


def _help(session: Session, ctx: InboundContext, party: Party, intent: Intent, message: Message) -> Sms:
    return templates.help_text(ctx.clinic, party.kind)


# Intent -> the operation that owns it. Questionnaire answers are routed in `route` (they depend
# on who is texting and whether a check-in is under way).
HANDLERS: dict[Kind, Handler] = {
    Kind.HELP: _help,
    Kind.ACK: alerts.acknowledge_by_sms,
    Kind.RESOLVE: alerts.resolve_by_sms,
    Kind.RECEIVED: receipts.received_by_sms,
    **dosing.HANDLERS,
}
# Words that only staff may use; anyone else gets HELP.
STAFF_ONLY = {Kind.ACK, Kind.RESOLVE}


def sender_phone(raw: str, ctx: InboundContext) -> str | None:
    try:
        return normalize_phone(raw, ctx.default_region)
    except RuleViolation:
        return None  # a short code or an alphanumeric sender: nobody we know


REPLY = Actor.system("sms reply")


def route(session: Session, ctx: InboundContext, message: Message, *, has_media: bool = False,
          client_address: str | None = None) -> Sms | None:
    """Act on one stored inbound message; store the reply to send back, if any, and return it.
    `client_address` is who delivered the text (Twilio), for the audit log."""
    phone = sender_phone(message.from_phone or "", ctx)
    party = who_is_texting(session, phone) if phone else Party("unknown", message.from_phone or "")
    intent = parse(message.body)
    _audit_received(session, party, intent, message, client_address)
    reply = _respond(session, ctx, message, phone, party, intent, has_media)
    if reply is not None:
        stored = outbox.record_reply(session, to=phone or message.from_phone or "", sms=reply,
                                     patient_id=party.patient_id)
        record(session, REPLY, AuditAction.SMS_SENT, object_type="message", object_id=stored.id,
               patient_id=party.patient_id,
               details={"via": "reply", "in_reply_to": message.id, "to": party.kind, "template": reply.template})
    return reply


def _audit_received(session: Session, party: Party, intent: Intent, message: Message,
                    client_address: str | None) -> None:
    """Metadata only: the sender as a party (their user or sitter id, not their number) and the
    keyword understood; the body stays in the message row."""
    sender = {"sender": party.kind}
    if party.sitter_id is not None:
        sender["sitter_id"] = party.sitter_id
    record(session, replace(alerts.actor_of(party), client_address=client_address), AuditAction.SMS_RECEIVED,
           object_type="message", object_id=message.id, patient_id=party.patient_id,
           details={"sid": message.provider_sid, "intent": intent.kind.value, **sender})


def _respond(session: Session, ctx: InboundContext, message: Message, phone: str | None, party: Party,
             intent: Intent, has_media: bool) -> Sms | None:
    actor = alerts.actor_of(party)
    if intent.kind is Kind.OPT_OUT and phone:
        if consent.set_opted_out(session, actor, phone, True, f"keyword {intent.text.upper()[:20]}"):
            alerts.raise_opt_out_escalation(session, ctx, party, message)
        return templates.opted_out(ctx.clinic)
    if intent.kind is Kind.OPT_IN and phone:
        consent.set_opted_out(session, actor, phone, False, f"keyword {intent.text.upper()[:20]}")
        asked = dosing.question_now(session, ctx, party)   # YES is consent, never an answer: ask again
        return templates.opted_in_then(ctx.clinic, asked) if asked else templates.opted_in(ctx.clinic)

    # Crisis words count from patients, sitters and strangers; a prescriber's RESOLVE note that
    # mentions "chest pain" is a report, not a crisis.
    crisis = party.kind in ("patient", "sitter", "unknown") and mentions_crisis(message.body, ctx.crisis_phrases)
    if intent.kind is Kind.SOS or crisis:
        reason = Reason.SOS if intent.kind is Kind.SOS else Reason.CRISIS_PHRASE
        alerts.raise_safety_alert(session, ctx, party, reason, message)
        return templates.sos_reply(ctx.clinic) if reason is Reason.SOS else templates.crisis_reply(ctx.clinic)

    if party.kind == "unknown":
        log.info("text from an unknown number (message %s)", message.id)
        return templates.unknown_sender(ctx.clinic)
    if phone and consent.is_opted_out(session, phone):
        # They opted out: only HELP is answered until they text START. What happened (a TAKEN,
        # an answer, a sitter's OK) is still acted on, unanswered (SPEC §1).
        if intent.kind is Kind.HELP:
            return templates.help_text(ctx.clinic, party.kind)
        if dosing.acted_on_when_opted_out(session, party, intent):
            _act_on(session, ctx, message, party, intent, has_media)
        return None
    return _act_on(session, ctx, message, party, intent, has_media)


def _act_on(session: Session, ctx: InboundContext, message: Message, party: Party, intent: Intent,
            has_media: bool) -> Sms | None:
    if intent.kind is Kind.EMPTY or (has_media and not intent.text):
        return templates.text_only(ctx.clinic)
    if dosing.sitter_says_not_ok(session, party, intent):
        return dosing.not_ok_by_sms(session, ctx, party, intent, message)

    handler = HANDLERS.get(intent.kind)
    if intent.kind is Kind.ANSWER and sitters.waiting_for_code(session, party):
        handler = sitters.code_by_sms  # a new sitter's first answer is the code that confirms their phone
    elif dosing.takes_answer(session, party, intent):
        handler = dosing.answer_by_sms
    if intent.kind in STAFF_ONLY and party.kind not in ("prescriber", "staff"):
        handler = None
    if handler is None:
        if intent.problem:
            return templates.malformed_keyword(ctx.clinic, intent.problem)
        return templates.help_text(ctx.clinic, party.kind)
    return handler(session, ctx, party, intent, message)
