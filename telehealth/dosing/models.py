"""Dose sessions, their check-ins and their deadlines (SPEC §2, §4)."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.accounts.models import Patient, Sitter, User
from telehealth.db import Base, UTCDateTime, enum_column
from telehealth.dosing.rules import SessionState
from telehealth.prescriptions.models import Prescription


class DoseSession(Base):
    """One home dose. Its key moments are kept as timestamps; its answers are check-ins."""

    __tablename__ = "dose_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"))
    prescription_id: Mapped[int] = mapped_column(sa.ForeignKey("prescriptions.id"), index=True)
    sitter_id: Mapped[int] = mapped_column(sa.ForeignKey("sitters.id"), index=True)
    dose_number: Mapped[int]          # its place in the series, 1-based, given when booked
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[SessionState] = mapped_column(enum_column(SessionState, "dose_session_state"))
    scheduled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sitter_arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pre_dose_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pre_dose_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dosed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    post_dose_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    post_dose_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was held, released from hold, cancelled or not cleared: for the prescriber and the record.
    hold_findings: Mapped[list[str] | None] = mapped_column(sa.JSON)
    hold_released_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    hold_release_note: Mapped[str | None] = mapped_column(sa.Text)
    end_reason: Mapped[str | None] = mapped_column(sa.String(200))
    # The sitter's web link (SPEC §1: sitters check in by SMS or via a web link), texted when the
    # window opens: only its SHA-256 is kept, so reading the database does not give the link.
    sitter_link_hash: Mapped[str | None] = mapped_column(sa.String(64))

    patient: Mapped[Patient] = relationship()
    prescription: Mapped[Prescription] = relationship()
    sitter: Mapped[Sitter] = relationship()
    scheduled_by: Mapped[User | None] = relationship(foreign_keys=[scheduled_by_id])
    check_ins: Mapped[list["CheckIn"]] = relationship(order_by="CheckIn.id", back_populates="dose_session")
    deadlines: Mapped[list["Deadline"]] = relationship(order_by="Deadline.due_at", back_populates="dose_session")

    @property
    def status_label(self) -> str:
        """Its state as a page shows it: a session that ended missed after a dose says so (closed
        unreleased, or taken after the clearance expired), not to be read as no dose."""
        if self.state is SessionState.MISSED and self.dosed_at is not None:
            return "missed (taken)"
        return self.state.label

    __table_args__ = (
        sa.Index("ix_dose_sessions_patient_id_scheduled_at", "patient_id", "scheduled_at"),
        # Compliance dose records are filtered by the day the dose was taken (migration 0009).
        sa.Index("ix_dose_sessions_dosed_at", "dosed_at"),
        sa.Index("ix_dose_sessions_sitter_link_hash", "sitter_link_hash", unique=True),
    )


class Channel(enum.Enum):
    SMS = "sms"
    WEB = "web"
    API = "api"


class CheckIn(Base):
    """One answer in a session: who gave it, by which channel, when, and its validated value.
    `kind` is an answer's "<questionnaire>.<question>", or an act: sitter_arrived, dose_taken,
    observation_ok, release, skip."""

    __tablename__ = "check_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_session_id: Mapped[int] = mapped_column(sa.ForeignKey("dose_sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(60))
    by: Mapped[str] = mapped_column(sa.String(20))   # patient, sitter, prescriber
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    sitter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sitters.id"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "check_in_channel"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("messages.id"))

    dose_session: Mapped[DoseSession] = relationship(back_populates="check_ins")


class DeadlineKind(enum.Enum):
    """What must happen by when. Reminders are deadlines the system meets itself by texting."""

    WINDOW_OPENS = "window_opens"                  # reminder to patient and sitter; the session opens
    SITTER_ARRIVAL = "sitter_arrival"
    PRE_DOSE_REPORT = "pre_dose_report"
    BP_RECHECK = "bp_recheck"                      # reminder: measure again after resting
    DOSE_TAKEN_REMINDER = "dose_taken_reminder"
    DOSE_TAKEN = "dose_taken"
    POST_DOSE_PROMPT = "post_dose_prompt"          # reminder: the post-dose report is due now
    POST_DOSE_REPORT = "post_dose_report"
    OBSERVATION_CHECK = "observation_check"        # asks the sitter; opens an OBSERVATION_ANSWER
    OBSERVATION_ANSWER = "observation_answer"
    RELEASE_PROMPT = "release_prompt"              # reminder to the sitter: release is due
    RELEASE = "release"


class DeadlineState(enum.Enum):
    PENDING = "pending"
    MET = "met"
    MISSED = "missed"
    CANCELLED = "cancelled"


class Deadline(Base):
    __tablename__ = "deadlines"

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_session_id: Mapped[int] = mapped_column(sa.ForeignKey("dose_sessions.id"), index=True)
    kind: Mapped[DeadlineKind] = mapped_column(enum_column(DeadlineKind, "deadline_kind"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[DeadlineState] = mapped_column(enum_column(DeadlineState, "deadline_state"))
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(sa.String(120))

    dose_session: Mapped[DoseSession] = relationship(back_populates="deadlines")

    __table_args__ = (
        sa.UniqueConstraint("dose_session_id", "kind", "due_at"),
        # The sweep reads only pending rows by due time: a partial index keeps it as fast with a
        # million finished sessions as with a thousand.
        sa.Index("ix_deadlines_pending_due_at", "due_at",
                 sqlite_where=sa.text("state = 'pending'"), postgresql_where=sa.text("state = 'pending'")),
    )
