"""A new sitter texting back the code that confirms their phone (and their consent)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth.accounts import sitters
from telehealth.accounts.operations import Party
from telehealth.inbound.alerts import actor_of
from telehealth.inbound.parsing import Intent
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import Sms


def waiting_for_code(session: Session, party: Party) -> bool:
    return party.kind == "sitter" and party.sitter_id is not None and sitters.awaiting_code(session, party.sitter_id)


def code_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    result = sitters.verify_code(session, actor_of(party), ctx.sitters, party.sitter_id, intent.text)
    if result is sitters.CodeCheck.VERIFIED:
        return templates.sitter_verified(ctx.clinic)
    problem = sitters.CODE_WRONG if result is sitters.CodeCheck.WRONG else sitters.CODE_EXPIRED
    return templates.sitter_code_problem(ctx.clinic, problem)
