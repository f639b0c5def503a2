from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent


def record(session: Session, actor: Actor, action: AuditAction, *, object_type: str | None = None,
           object_id: Any = None, patient_id: int | None = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Add one audit event to the caller's transaction. Details must carry no secrets."""
    event = AuditEvent(
        occurred_at=clock.now(),
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action.value,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        patient_id=patient_id,
        details=details or {},
        client_address=actor.client_address,
    )
    session.add(event)
    return event
