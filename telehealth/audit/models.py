from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from telehealth.db import Base, UTCDateTime


class AuditAction(enum.Enum):
    """Every kind of audited event. Stored as its value; new actions need no migration."""

    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_RATE_LIMITED = "login.rate_limited"
    LOGOUT = "logout"
    ACCESS_REFUSED = "access.refused"
    USER_CREATED = "user.created"
    USER_DEACTIVATED = "user.deactivated"
    PASSWORD_CHANGED = "user.password_changed"
    ON_CALL_CHANGED = "user.on_call_changed"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    PATIENT_CREATED = "patient.created"
    PATIENT_RECORD_READ = "patient.record_read"
    PATIENT_LIST_READ = "patient.list_read"
    SITTER_ADDED = "sitter.added"
    SMS_OPTED_OUT = "sms.opted_out"
    SMS_OPTED_IN = "sms.opted_in"
    SMS_FAILED = "sms.failed"
    SAFETY_ALERT = "safety.alert"
    ESCALATION_OPENED = "escalation.opened"
    ESCALATION_RETRIGGERED = "escalation.retriggered"
    ESCALATION_SEVERITY_RAISED = "escalation.severity_raised"
    ESCALATION_PAGED = "escalation.paged"
    ESCALATION_PAGE_FAILED = "escalation.page_failed"
    ESCALATION_ACKNOWLEDGED = "escalation.acknowledged"
    ESCALATION_RESOLVED = "escalation.resolved"
    ESCALATION_LIST_READ = "escalation.list_read"
    ESCALATION_READ = "escalation.read"
    DISPENSED = "dispensing.dispensed"
    RELEASE_AUTHORIZED = "dispensing.release_authorized"
    SHIPMENT_SHIPPED = "shipment.shipped"
    SHIPMENT_DELIVERED = "shipment.delivered"
    SHIPMENT_RECEIVED = "shipment.received"
    SHIPMENT_RECEIPT_OVERDUE = "shipment.receipt_overdue"
    SHIPMENT_LOST = "shipment.lost"
    SHIPMENT_LOSS_FILED = "shipment.loss_filed"
    INVENTORY_WASTED = "inventory.wasted"
    INVENTORY_RETURNED = "inventory.returned"
    INVENTORY_COUNT_REPORTED = "inventory.count_reported"
    INVENTORY_READ = "inventory.read"
    SHIPMENT_READ = "shipment.read"
    PHARMACY_QUEUE_READ = "dispensing.queue_read"
    SITTER_CODE_SENT = "sitter.code_sent"
    SITTER_CODE_REJECTED = "sitter.code_rejected"
    SITTER_VERIFIED = "sitter.verified"
    SITTER_DEACTIVATED = "sitter.deactivated"
    SCREENING_RECORDED = "screening.recorded"
    SCREENING_OVERRIDDEN = "screening.overridden"
    DEA_NUMBER_SET = "user.dea_number_set"
    PRESCRIPTION_ISSUED = "prescription.issued"
    PRESCRIPTION_STATUS_CHANGED = "prescription.status_changed"
    PRESCRIPTION_READ = "prescription.read"
    PRESCRIPTION_LIST_READ = "prescription.list_read"
    DOSE_SESSION_SCHEDULED = "dose_session.scheduled"
    DOSE_SESSION_STATE_CHANGED = "dose_session.state_changed"
    DOSE_SESSION_CHECK_IN = "dose_session.check_in"
    DOSE_SESSION_HOLD_RELEASED = "dose_session.hold_released"
    DOSE_SESSION_READ = "dose_session.read"
    DOSE_SESSION_LIST_READ = "dose_session.list_read"
    DEADLINE_MISSED = "deadline.missed"
    # Every SMS in and out, as metadata (ids, template, status; never a body or a phone number).
    SMS_RECEIVED = "sms.received"
    SMS_SENT = "sms.sent"
    SMS_DELIVERED = "sms.delivered"
    RELEASE_STATUS_READ = "dispensing.release_status_read"
    ESCALATION_NOBODY_TO_PAGE = "escalation.nobody_to_page"
    # Compliance reports (details: the report and its filters) and the chain checked from the page.
    REPORT_READ = "report.read"
    REPORT_EXPORTED = "report.exported"
    AUDIT_CHAIN_VERIFIED = "audit.chain_verified"
    INVENTORY_CORRECTED = "inventory.corrected"
    # A session not yet started given another number after a booking or cancellation (details: dose_number, was).
    DOSE_SESSION_RENUMBERED = "dose_session.renumbered"
    DOSE_SESSION_SITTER_REPLACED = "dose_session.sitter_replaced"
    DOSE_SESSION_ARRIVAL_WITHDRAWN = "dose_session.arrival_withdrawn"


class AuditEvent(Base):
    """Append-only: the application never updates or deletes these rows (on PostgreSQL a
    trigger refuses it). Each row carries its own MAC, written at insert; the chain that fixes
    their order is `AuditSeal` (see `telehealth.audit.chain`)."""

    __tablename__ = "audit_events"
    # The sealer reads committed events in (txid, id) order from where it left off.
    __table_args__ = (sa.Index("ix_audit_events_txid_id", "txid", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)  # the sequence number
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_label: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(40))
    # The patient whose record this touches, if any: "who looked at this patient?" in one query.
    patient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    client_address: Mapped[str | None] = mapped_column(sa.String(45))
    # 16 random bytes, unique: no two events share a MAC and no genuine row can be replayed.
    nonce: Mapped[bytes] = mapped_column(sa.LargeBinary(16), unique=True)
    # HMAC-SHA-256 of the event's canonical content (telehealth.audit.canonical), with the nonce.
    mac: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    # PostgreSQL: the inserting transaction's id, filled by the database (a column default);
    # NULL on SQLite, whose writers are serialized anyway. Lets the sealer take events in an
    # order no still-running transaction can slip into.
    txid: Mapped[int | None] = mapped_column(sa.BigInteger, server_default=sa.FetchedValue())


class AuditSeal(Base):
    """One link of the chain: the event at chain position `seq`. Append-only, like the events."""

    __tablename__ = "audit_seals"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_events.id"), unique=True)
    prev_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
