"""The one hook for safety alerts raised by text: `SOS` and crisis phrases from anyone.

The escalations issue turns these into urgent escalations paged to the prescriber. Until then
the alert is written to the audit log, so nothing said in a crisis goes unrecorded.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from telehealth.accounts.operations import Party
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record


def raise_safety_alert(session: Session, party: Party, reason: str, inbound_message_id: int) -> None:
    """`reason` is "sos" or "crisis_phrase"."""
    record(session, Actor(user_id=party.user_id, role=party.kind, label=f"sms from {party.kind}"),
           AuditAction.SAFETY_ALERT, object_type="message", object_id=inbound_message_id,
           patient_id=party.patient_id, details={"reason": reason, "party": party.kind})
