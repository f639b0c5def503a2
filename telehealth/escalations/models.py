from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.accounts.models import Patient, User
from telehealth.db import Base, UTCDateTime, enum_column
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from telehealth.messaging.models import Message


class Escalation(Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(primary_key=True)  # the number people text: ACK 482
    reason: Mapped[Reason] = mapped_column(enum_column(Reason, "escalation_reason"))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "escalation_severity"))
    state: Mapped[State] = mapped_column(enum_column(State, "escalation_state"))
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dose_sessions.id"), index=True)
    dose_number: Mapped[int | None]
    # "One open escalation per (session or patient, reason)": set while unresolved, cleared on
    # resolution; unique, so a concurrent second trigger cannot open a twin.
    open_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # escalation statistics' dates
    trigger_count: Mapped[int] = mapped_column(default=1)
    # The paging plan, copied from the policy when paging (re)started.
    paging_plan: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    paging_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    steps_paged: Mapped[int] = mapped_column(default=0)
    steps_forced: Mapped[int] = mapped_column(default=0)
    next_page_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "escalation_outcome"))
    resolution_note: Mapped[str | None] = mapped_column(sa.Text)

    patient: Mapped[Patient] = relationship()
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])
    resolved_by: Mapped[User | None] = relationship(foreign_keys=[resolved_by_id])
    timeline: Mapped[list["EscalationEvent"]] = relationship(order_by="EscalationEvent.id",
                                                             back_populates="escalation")

    @property
    def is_compliance(self) -> bool:
        return self.reason.is_compliance


class EventKind(enum.Enum):
    TRIGGERED = "triggered"
    RETRIGGERED = "retriggered"
    SEVERITY_RAISED = "severity_raised"
    PAGED = "paged"
    PAGE_FAILED = "page_failed"
    NOBODY_TO_PAGE = "nobody_to_page"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class EscalationEvent(Base):
    """The escalation's timeline: trigger, every page (with its message, for delivery status),
    acknowledgement, resolution."""

    __tablename__ = "escalation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(sa.ForeignKey("escalations.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[EventKind] = mapped_column(enum_column(EventKind, "escalation_event_kind"))
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recipient_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)

    escalation: Mapped[Escalation] = relationship(back_populates="timeline")
    recipient: Mapped[User | None] = relationship(foreign_keys=[recipient_user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_user_id])
    message: Mapped[Message | None] = relationship()
