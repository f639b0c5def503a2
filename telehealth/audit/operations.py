from __future__ import annotations

import json
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit import canonical
from telehealth.audit.keys import chain_key
from telehealth.audit.models import AuditAction, AuditEvent


def record(session: Session, actor: Actor, action: AuditAction, *, object_type: str | None = None,
           object_id: Any = None, patient_id: int | None = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Add one audit event to the caller's transaction. Details must carry no secrets.

    Cheap and lock-free: the event is signed here (its MAC) and inserted with the caller's
    transaction; the chain is extended after commit by the sealer (`telehealth.audit.chain`).
    """
    event = AuditEvent(**_signed(session, actor, action, object_type, object_id, patient_id, details))
    session.add(event)
    return event


def record_for_each_patient(session: Session, actor: Actor, action: AuditAction, patient_ids: Sequence[int | None],
                            *, object_type: str | None = None, object_id: Any = None,
                            details: dict[str, Any] | None = None) -> None:
    """The same event once per patient, as `record` writes each (a report that showed thousands
    of patients names each of them), inserted by one statement."""
    rows = [_signed(session, actor, action, object_type, object_id, patient_id, details) for patient_id in patient_ids]
    if rows:
        session.execute(sa.insert(AuditEvent), rows)


def _signed(session: Session, actor: Actor, action: AuditAction, object_type: str | None, object_id: Any,
            patient_id: int | None, details: dict[str, Any] | None) -> dict[str, Any]:
    """An event's columns, with its MAC over its canonical content."""
    occurred_at = clock.now()
    # The details are stored as exactly this text (the JSON column writes json.dumps of the
    # sorted dict), so the MAC covers the bytes that land in the database.
    stored_details = canonical.details_text(details)
    object_id = None if object_id is None else str(object_id)
    nonce = canonical.new_nonce()
    content = canonical.event_content(
        canonical.time_text(occurred_at), actor.user_id, actor.label, action.value, object_type, object_id,
        patient_id, actor.client_address, stored_details)
    return dict(occurred_at=occurred_at, actor_user_id=actor.user_id, actor_label=actor.label, action=action.value,
                object_type=object_type, object_id=object_id, patient_id=patient_id,
                details=json.loads(stored_details), client_address=actor.client_address, nonce=nonce,
                mac=chain_key(session).event_mac(nonce, content))
