"""Opt-out and opt-in (SPEC §6): honoured at once, recorded, audited."""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.messaging.models import SmsConsent


def is_opted_out(session: Session, phone: str) -> bool:
    consent = session.get(SmsConsent, phone)
    return consent is not None and consent.opted_out


def set_opted_out(session: Session, actor: Actor, phone: str, opted_out: bool, source: str) -> bool:
    """Record the number's choice. Returns True when it changed anything."""
    consent = session.get(SmsConsent, phone, with_for_update=True)
    if consent is not None and consent.opted_out == opted_out:
        return False
    if consent is None:
        consent = SmsConsent(phone=phone, opted_out=opted_out, changed_at=clock.now(), source=source)
        session.add(consent)
    else:
        consent.opted_out, consent.changed_at, consent.source = opted_out, clock.now(), source
    record(session, actor, AuditAction.SMS_OPTED_OUT if opted_out else AuditAction.SMS_OPTED_IN,
           object_type="phone", object_id=phone, details={"source": source})
    return True
