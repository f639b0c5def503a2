"""The outbox: `enqueue()` is the only way any code sends an SMS.

It writes a row in the caller's transaction, so a message exists exactly when the change that
caused it commits; the dispatcher sends it later. Inbound messages and the replies handed back
in the webhook's TwiML are rows here too, so every SMS in or out is on record.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.db import insert_unless_present
from telehealth.messaging.models import Direction, Message, MessageStatus
from telehealth.messaging.templates import Sms


def enqueue(session: Session, *, to: str, sms: Sms, owner_type: str | None = None, owner_id: int | None = None,
            patient_id: int | None = None) -> Message:
    now = clock.now()
    message = Message(direction=Direction.OUTBOUND, to_phone=to, body=sms.body, template=sms.template,
                      status=MessageStatus.QUEUED, next_attempt_at=now, owner_type=owner_type, owner_id=owner_id,
                      patient_id=patient_id, created_at=now, updated_at=now)
    session.add(message)
    session.flush()
    return message


def record_reply(session: Session, *, to: str, sms: Sms, patient_id: int | None = None) -> Message:
    """A reply that leaves inside the webhook's TwiML answer rather than through the dispatcher."""
    now = clock.now()
    message = Message(direction=Direction.OUTBOUND, to_phone=to, body=sms.body, template=sms.template,
                      status=MessageStatus.SENT, sent_as_reply=True, patient_id=patient_id, created_at=now,
                      sent_at=now, updated_at=now)
    session.add(message)
    session.flush()
    return message


def record_inbound(session: Session, *, provider_sid: str, from_phone: str, to_phone: str, body: str) -> Message | None:
    """Store an inbound SMS under its provider id. Returns None when that id was already stored:
    a repeated delivery (even two at the same instant) is acted on once."""
    now = clock.now()
    stored = insert_unless_present(session, Message, conflict_column="provider_sid", values={
        "direction": Direction.INBOUND, "to_phone": to_phone[:32], "from_phone": from_phone[:32],
        "body": body, "status": MessageStatus.RECEIVED, "provider_sid": provider_sid, "attempts": 0,
        "sent_as_reply": False, "created_at": now, "updated_at": now})
    return session.get(Message, stored) if stored is not None else None
