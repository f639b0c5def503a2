from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telehealth.db import Base, UTCDateTime, enum_column


class Role(enum.Enum):
    PATIENT = "patient"
    PRESCRIBER = "prescriber"
    PHARMACIST = "pharmacist"
    COMPLIANCE = "compliance"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.PATIENT


class PatientStatus(enum.Enum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    PAUSED = "paused"
    DISCHARGED = "discharged"


class User(Base):
    """A login: staff or patient. Sitters are contacts of a patient, not users."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(16), unique=True)  # E.164
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Flask-Login keeps this, not the primary key, in the session cookie: changing it
    # (password change, deactivation) ends every session of the user at once.
    login_id: Mapped[str] = mapped_column(sa.String(43), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Prescribers on call are paged by urgent and high escalations after a while (SPEC §5).
    # Optional hours, in the clinic's time zone; a span may cross midnight.
    on_call: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    on_call_from: Mapped[time | None]
    on_call_until: Mapped[time | None]
    # Prescribers: the DEA registration number, copied onto each prescription they issue.
    dea_number: Mapped[str | None] = mapped_column(sa.String(9))

    patient: Mapped["Patient | None"] = relationship(back_populates="user", foreign_keys="Patient.user_id")

    # Flask-Login's user protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return self.login_id

    @property
    def initials(self) -> str:
        return "".join(part[0].upper() for part in self.full_name.split() if part)[:3]


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    date_of_birth: Mapped[date]
    address_line1: Mapped[str] = mapped_column(sa.String(120))
    address_line2: Mapped[str | None] = mapped_column(sa.String(120))
    city: Mapped[str] = mapped_column(sa.String(80))
    region: Mapped[str] = mapped_column(sa.String(40))
    postal_code: Mapped[str] = mapped_column(sa.String(16))
    timezone: Mapped[str] = mapped_column(sa.String(64))  # IANA name
    prescriber_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    backup_prescriber_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    status: Mapped[PatientStatus] = mapped_column(enum_column(PatientStatus, "patient_status"))
    sms_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="patient", foreign_keys=[user_id])
    prescriber: Mapped[User] = relationship(foreign_keys=[prescriber_id])
    backup_prescriber: Mapped[User | None] = relationship(foreign_keys=[backup_prescriber_id])
    sitters: Mapped[list["Sitter"]] = relationship(back_populates="patient", order_by="Sitter.id")

    __table_args__ = (
        sa.CheckConstraint("backup_prescriber_id IS NULL OR backup_prescriber_id <> prescriber_id",
                           name="backup_differs_from_prescriber"),
    )

    @property
    def full_name(self) -> str:
        return self.user.full_name

    @property
    def phone(self) -> str | None:
        return self.user.phone


class Sitter(Base):
    """A trusted adult who stays with the patient through a home dose. No login needed."""

    __tablename__ = "sitters"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(sa.ForeignKey("patients.id"), index=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str] = mapped_column(sa.String(16), unique=True)  # E.164
    relationship_to_patient: Mapped[str] = mapped_column(sa.String(60))
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The code texted to the sitter's phone, which they text back to verify it (only its hash).
    verification_code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    verification_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_attempts: Mapped[int] = mapped_column(default=0, server_default="0")

    patient: Mapped[Patient] = relationship(back_populates="sitters")


class ApiToken(Base):
    """A bearer token for `/api/v1`. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginAttempt(Base):
    """One try at a password, kept so failures can be counted across every worker."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    email: Mapped[str] = mapped_column(sa.String(254))
    client_address: Mapped[str] = mapped_column(sa.String(45))
    succeeded: Mapped[bool]

    __table_args__ = (
        sa.Index("ix_login_attempts_email_attempted_at", "email", "attempted_at"),
        sa.Index("ix_login_attempts_client_address_attempted_at", "client_address", "attempted_at"),
    )
