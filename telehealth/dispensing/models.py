from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.accounts.models import Patient, User
from telehealth.db import Base, UTCDateTime, enum_column
from telehealth.prescriptions.models import Prescription


class Dispensing(Base):
    """One fill of a prescription by a pharmacist: the DEA dispensing record, with the lot.
    Never edited or deleted; a correction is a new entry."""

    __tablename__ = "dispensings"

    id: Mapped[int] = mapped_column(primary_key=True)
    prescription_id: Mapped[int] = mapped_column(sa.ForeignKey("prescriptions.id"), index=True)
    fill_number: Mapped[int]          # 1 is the original fill, 2.. are refills
    quantity: Mapped[int]
    lot_number: Mapped[str] = mapped_column(sa.String(40), index=True)
    lot_expiry: Mapped[date]
    pharmacist_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    dispensed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the dispensing log's dates

    prescription: Mapped[Prescription] = relationship()
    pharmacist: Mapped[User] = relationship()
    shipment: Mapped["Shipment | None"] = relationship(back_populates="dispensing")

    __table_args__ = (sa.UniqueConstraint("prescription_id", "fill_number"),
                      sa.CheckConstraint("quantity > 0", name="positive_quantity"))


class Shipment(Base):
    """A mailed package: shipped, delivered, received by the patient with the count they found,
    or lost in transit (with the pharmacy's DEA duties tracked until closed)."""

    __tablename__ = "shipments"

    id: Mapped[int] = mapped_column(primary_key=True)
    dispensing_id: Mapped[int] = mapped_column(sa.ForeignKey("dispensings.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    carrier: Mapped[str] = mapped_column(sa.String(40))
    tracking_number: Mapped[str] = mapped_column(sa.String(60))
    shipped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shipped_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_count: Mapped[int | None]
    received_via: Mapped[str | None] = mapped_column(sa.String(10))   # sms, web or api
    # Staged release: shipped although earlier sessions or escalations were not closed, on the
    # strength of this prescriber's authorization.
    release_override_id: Mapped[int | None] = mapped_column(sa.ForeignKey("release_overrides.id"), unique=True)
    # Set once when the receipt-overdue sweep escalates this package, so it escalates once.
    receipt_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Loss in transit (SPEC §3): DEA notice within 1 business day, Form 106 within 45 days.
    lost_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lost_escalation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("escalations.id"))
    dea_notice_on: Mapped[date | None]
    form_106_filed_on: Mapped[date | None]
    form_106_number: Mapped[str | None] = mapped_column(sa.String(40))

    dispensing: Mapped[Dispensing] = relationship(back_populates="shipment")
    patient: Mapped[Patient] = relationship()
    release_override: Mapped["ReleaseOverride | None"] = relationship()

    @property
    def state(self) -> str:
        """What the patient and the pharmacy see: in transit, delivered, received or lost."""
        if self.received_at is not None:
            return "received"
        if self.lost_reported_at is not None:
            return "lost"
        return "delivered" if self.delivered_at is not None else "in transit"


class ReleaseOverride(Base):
    """A prescriber's authorization to ship a patient's next package although the staged-release
    check holds it (an open escalation, an incomplete session record). Used by one shipment."""

    __tablename__ = "release_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    authorized_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    authorized_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.Text)
    # What held the release when it was authorized, as the prescriber saw it.
    blockers: Mapped[list[str]] = mapped_column(sa.JSON)

    authorized_by: Mapped[User] = relationship()


class MovementKind(enum.Enum):
    RECEIVED = "received"              # + the count the patient found in the package
    DOSE_TAKEN = "dose_taken"          # − lozenges taken in a dose session
    WASTED = "wasted"                  # − destroyed, with a witness
    RETURNED = "returned"              # − sent back to the pharmacy
    COUNT_REPORTED = "count_reported"  # what the patient counted on hand; moves nothing
    CORRECTION = "correction"          # ± a correction of an earlier entry, which it names


class InventoryMovement(Base):
    """The append-only ledger per patient and lot. On hand is derived from it, never stored."""

    __tablename__ = "inventory_movements"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    lot_number: Mapped[str] = mapped_column(sa.String(40))
    kind: Mapped[MovementKind] = mapped_column(enum_column(MovementKind, "movement_kind"))
    # Signed change to on hand (0 for a reported count); `reported_count` carries a count.
    quantity: Mapped[int]
    reported_count: Mapped[int | None]
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(120))
    shipment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("shipments.id"))
    # A dose record's lots (migration 0009).
    dose_session_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dose_sessions.id"), index=True)
    witness_name: Mapped[str | None] = mapped_column(sa.String(120))
    note: Mapped[str | None] = mapped_column(sa.Text)
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inventory_movements.id"))

    __table_args__ = (
        # On hand per patient and lot, and the reconciliation's sums per patient, from the index
        # alone; each patient's latest count (migrations 0008, 0009).
        sa.Index("ix_inventory_movements_reconciliation", "patient_id", "lot_number", "kind", "at", "quantity", "id"),
        sa.Index("ix_inventory_movements_count_reports", "patient_id", "id",
                 sqlite_where=sa.text("kind = 'count_reported'"), postgresql_where=sa.text("kind = 'count_reported'")),
    )
