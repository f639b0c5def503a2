from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.accounts.models import Patient, User
from telehealth.db import Base, UTCDateTime, enum_column
# The enums live with the pure rules that decide on them; imported here for the columns and callers.
from telehealth.prescriptions.rules import (  # noqa: F401
    Contraindication, PrescriptionStatus, prescribing_blocked)


class Screening(Base):
    """A contraindication checklist and baseline, recorded by a prescriber. Never edited: a new
    screening supersedes an older one."""

    __tablename__ = "screenings"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The contraindications found present (Contraindication values); empty when none.
    contraindications: Mapped[list[str]] = mapped_column(sa.JSON)
    baseline_systolic: Mapped[int]
    baseline_diastolic: Mapped[int]
    phq9: Mapped[int]   # 0–27
    gad7: Mapped[int]   # 0–21
    override_reason: Mapped[str | None] = mapped_column(sa.Text)
    override_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    override_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    patient: Mapped[Patient] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])

    @property
    def clears_prescribing(self) -> bool:
        return not prescribing_blocked(self.contraindications, self.override_reason)


class Prescription(Base):
    """A Schedule III prescription with the fields its record needs, and the limits of its series."""

    __tablename__ = "prescriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    prescriber_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    prescriber_dea_number: Mapped[str] = mapped_column(sa.String(9))  # snapshot at issue
    screening_id: Mapped[int] = mapped_column(sa.ForeignKey("screenings.id"))
    drug: Mapped[str] = mapped_column(sa.String(80))
    strength_mg: Mapped[int]
    dosage_form: Mapped[str] = mapped_column(sa.String(60))
    lozenges_per_dose: Mapped[int]
    quantity: Mapped[int]            # lozenges per fill
    refills: Mapped[int]             # fills after the first (Schedule III: at most 5)
    directions: Mapped[str] = mapped_column(sa.Text)
    doses_in_series: Mapped[int]
    min_hours_between_doses: Mapped[int]
    max_doses_per_7_days: Mapped[int]
    issued_on: Mapped[date]
    expires_on: Mapped[date]         # no fill on or after this day
    status: Mapped[PrescriptionStatus] = mapped_column(enum_column(PrescriptionStatus, "prescription_status"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_note: Mapped[str | None] = mapped_column(sa.Text)

    patient: Mapped[Patient] = relationship()
    prescriber: Mapped[User] = relationship(foreign_keys=[prescriber_id])
    screening: Mapped[Screening] = relationship()

    __table_args__ = (
        sa.CheckConstraint("refills >= 0 AND refills <= 5", name="schedule_iii_refills"),
        sa.CheckConstraint("quantity > 0 AND lozenges_per_dose > 0 AND strength_mg > 0", name="positive_amounts"),
    )

    @property
    def medication(self) -> str:
        """The medication as records print it: drug, strength and dosage form."""
        return f"{self.drug} {self.strength_mg} mg {self.dosage_form}"
