"""Texts about packages: a patient's `RECEIVED 8`, the count they found in a package."""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth.accounts.operations import Party
from telehealth.dispensing import operations as dispensing
from telehealth.errors import DomainError
from telehealth.inbound.alerts import actor_of
from telehealth.inbound.parsing import RECEIVED_PROBLEM, Intent
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import Sms


def received_by_sms(session: Session, ctx, party: Party, intent: Intent, message: Message) -> Sms:  # noqa: ANN001
    if party.kind != "patient" or party.patient_id is None:
        return templates.help_text(ctx.clinic, party.kind)
    if intent.problem or intent.number is None:
        return templates.package_problem(ctx.clinic, intent.problem or RECEIVED_PROBLEM)
    try:
        with session.begin_nested():  # a refused receipt writes nothing
            shipment = dispensing.confirm_receipt(session, actor_of(party), ctx.dispensing,
                                                  patient_id=party.patient_id, count=intent.number, channel="sms")
    except DomainError as error:
        problem = error.errors.get("count", [error.message])[0]
        return templates.package_problem(ctx.clinic, problem)
    if shipment.received_count != shipment.dispensing.quantity:
        return templates.receipt_count_differs(ctx.clinic, intent.number)
    return templates.receipt_recorded(ctx.clinic, intent.number)
