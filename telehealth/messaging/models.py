from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db import Base, UTCDateTime, enum_column


class Direction(enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageStatus(enum.Enum):
    QUEUED = "queued"            # in the outbox, waiting for the dispatcher
    SENDING = "sending"          # claimed by a dispatcher (under a lease)
    SENT = "sent"                # accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    RECEIVED = "received"        # inbound
    CANCELLED = "cancelled"      # withdrawn before it left: no longer needed (say, an acknowledged page)

    @property
    def rank(self) -> int:
        """Statuses only move forward: a late or repeated callback never moves one back."""
        return {"queued": 0, "sending": 1, "sent": 2}.get(self.value, 3)  # the rest are final

    @property
    def is_final(self) -> bool:
        return self.rank == 3


class Message(Base):
    """Every SMS in or out. An outgoing one is a row here before it is a network call."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, "message_direction"))
    to_phone: Mapped[str] = mapped_column(sa.String(32))
    from_phone: Mapped[str | None] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    template: Mapped[str | None] = mapped_column(sa.String(60))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus, "message_status"))
    # A reply handed to Twilio inside the webhook's TwiML answer, not through the outbox.
    sent_as_reply: Mapped[bool] = mapped_column(default=False)
    provider_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(20))
    error_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(200))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The room that wants to know when this message fails for good (see messaging.hooks).
    owner_type: Mapped[str | None] = mapped_column(sa.String(40))
    owner_id: Mapped[int | None]
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        # The dispatcher's sweep: due queued rows, and expired leases.
        sa.Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
        # "Is an earlier message to this recipient still on its way?" keeps each recipient's order.
        sa.Index("ix_messages_to_phone_id", "to_phone", "id"),
    )


class SmsConsent(Base):
    """Opt-out state per phone number: honoured at once, whoever the number belongs to."""

    __tablename__ = "sms_consents"

    phone: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    opted_out: Mapped[bool]
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(sa.String(40))  # the keyword texted, or "carrier error 21610"
