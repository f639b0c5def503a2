"""Routing an inbound SMS: who sent it, what it means, which room acts on it.

Consent words come first and always win (carriers reserve them). Then safety: `SOS` or a crisis
phrase in any text raises an alert and gets the crisis reply, whatever else was going on. Then
the intent goes to the room that owns it (`HANDLERS`). A patient's plain values, and while a
check-in is under way anything else they text ("128/", "abc"), are answers to its questionnaire;
a sitter's first value is the code that confirms their phone while one waits. An intent nobody
handles is answered with HELP.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy.orm import Session

from telehealth.accounts.operations import Party, who_is_texting
from telehealth.accounts.rules import normalize_phone
from telehealth.accounts.sitters import SitterSettings
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing.operations import DosingSettings
from telehealth.errors import RuleViolation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason
from telehealth.inbound import alerts, dosing, receipts, sitters
from telehealth.inbound.parsing import Intent, Kind, mentions_crisis, parse
from telehealth.messaging import consent, templates
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


def route(session: Session, ctx: InboundContext, message: Message, *, has_media: bool = False) -> Sms | None:
    """Act on one stored inbound message; return the reply to send back, if any."""
    phone = sender_phone(message.from_phone or "", ctx)
    party = who_is_texting(session, phone) if phone else Party("unknown", message.from_phone or "")
    intent = parse(message.body)
    actor = alerts.actor_of(party)

    if intent.kind is Kind.OPT_OUT and phone:
        if consent.set_opted_out(session, actor, phone, True, f"keyword {intent.text.upper()[:20]}"):
            alerts.raise_opt_out_escalation(session, ctx, party, message)
        return templates.opted_out(ctx.clinic)
    if intent.kind is Kind.OPT_IN and phone:
        consent.set_opted_out(session, actor, phone, False, f"keyword {intent.text.upper()[:20]}")
        return templates.opted_in(ctx.clinic)

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
        # They opted out: only HELP is answered until they text START.
        return templates.help_text(ctx.clinic, party.kind) if intent.kind is Kind.HELP else None
    if intent.kind is Kind.EMPTY or (has_media and not intent.text):
        return templates.text_only(ctx.clinic)

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
