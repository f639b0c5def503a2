"""Sitters (SPEC §3 step 1): registered by the prescriber or the patient; the sitter's phone gets a
code and must text it back. Texting the code is the sitter's consent to the clinic's care texts.

Only a hash of the code is kept. Codes have six digits and never start with 0 (an SMS answer is
read as a number, which would drop a leading zero).
"""
from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Patient, Sitter
from telehealth.accounts.policy import AccountPolicy
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.errors import Conflict, NotAllowed, NotFound
from telehealth.messaging import outbox, templates

OWNER = "sitter"  # the code messages are owned by the sitter they verify


@dataclass(frozen=True)
class SitterSettings:
    clinic: str
    code_ttl: timedelta
    max_attempts: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "SitterSettings":
        return cls(clinic=config["CLINIC_NAME"], code_ttl=timedelta(minutes=float(config["SITTER_CODE_TTL_MINUTES"])),
                   max_attempts=int(config["SITTER_CODE_MAX_ATTEMPTS"]))


def _digest(sitter_id: int, code: str) -> str:
    # Bound to the sitter, so one leaked hash says nothing about another sitter's code.
    return hashlib.sha256(f"sitter {sitter_id}: {code}".encode()).hexdigest()


def _may_manage(actor: Actor, patient: Patient) -> None:
    """The patient themselves or their prescriber (or backup) registers sitters."""
    if actor.role not in ("patient", "prescriber", "system"):
        raise NotAllowed("Sitters are registered by the patient or their prescriber.", object_type="patient",
                         object_id=patient.id, patient_id=patient.id)
    accounts.ensure_may_read_patient(actor, patient)


def register_sitter(session: Session, actor: Actor, policy: AccountPolicy, settings: SitterSettings,
                    patient_id: int, *, full_name: str, phone: str, relationship_to_patient: str) -> Sitter:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    _may_manage(actor, patient)
    sitter = accounts.add_sitter(session, actor, policy, patient, full_name=full_name, phone=phone,
                                 relationship_to_patient=relationship_to_patient)
    send_code(session, actor, settings, sitter)
    return sitter


def send_code(session: Session, actor: Actor, settings: SitterSettings, sitter: Sitter) -> None:
    """Text a fresh code to the sitter's phone (a new one replaces any earlier one)."""
    if sitter.phone_verified_at is not None:
        raise Conflict("This sitter's phone is already confirmed.")
    if not sitter.active:
        raise Conflict("This sitter is no longer active.")
    code = secrets.randbelow(900_000) + 100_000
    sitter.verification_code_hash = _digest(sitter.id, str(code))
    sitter.verification_expires_at = clock.now() + settings.code_ttl
    sitter.verification_attempts = 0
    outbox.enqueue(session, to=sitter.phone, sms=templates.sitter_code(settings.clinic, code), owner_type=OWNER,
                   owner_id=sitter.id, patient_id=sitter.patient_id)
    record(session, actor, AuditAction.SITTER_CODE_SENT, object_type="sitter", object_id=sitter.id,
           patient_id=sitter.patient_id)


def resend_code(session: Session, actor: Actor, settings: SitterSettings, sitter_id: int) -> Sitter:
    sitter = _sitter(session, actor, sitter_id)
    send_code(session, actor, settings, sitter)
    return sitter


def deactivate_sitter(session: Session, actor: Actor, sitter_id: int) -> Sitter:
    sitter = _sitter(session, actor, sitter_id)
    if sitter.active:
        sitter.active = False
        sitter.verification_code_hash = None
        record(session, actor, AuditAction.SITTER_DEACTIVATED, object_type="sitter", object_id=sitter.id,
               patient_id=sitter.patient_id)
    return sitter


def _sitter(session: Session, actor: Actor, sitter_id: int) -> Sitter:
    sitter = session.get(Sitter, sitter_id)
    if sitter is None:
        raise NotFound("No such sitter.")
    _may_manage(actor, sitter.patient)
    return sitter


# Replies when a texted code does not verify (each says what to do).
CODE_WRONG = "That code does not match. Send the 6-digit code from our latest text."
CODE_EXPIRED = "That code has expired or was used up. Ask the patient or the clinic to send a new one."


def awaiting_code(session: Session, sitter_id: int) -> bool:
    return session.scalar(sa.select(Sitter.verification_code_hash).where(Sitter.id == sitter_id)) is not None


class CodeCheck(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"        # one attempt used
    EXPIRED = "expired"    # too late, or too many attempts: a new code is needed


def verify_code(session: Session, actor: Actor, settings: SitterSettings, sitter_id: int, code: str) -> CodeCheck:
    """The sitter texted a code back. Right and in time: the phone is verified and consent recorded.
    A wrong code uses an attempt (kept: it is not an error that rolls back)."""
    sitter = session.get(Sitter, sitter_id, with_for_update=True, populate_existing=True)
    if sitter is None or sitter.verification_code_hash is None:
        raise Conflict("No code is waiting for this number.")
    now = clock.now()
    if sitter.verification_expires_at is None or now >= sitter.verification_expires_at \
            or sitter.verification_attempts >= settings.max_attempts:
        return CodeCheck.EXPIRED
    if not secrets.compare_digest(sitter.verification_code_hash, _digest(sitter.id, code.strip())):
        sitter.verification_attempts += 1
        record(session, actor, AuditAction.SITTER_CODE_REJECTED, object_type="sitter", object_id=sitter.id,
               patient_id=sitter.patient_id, details={"attempts": sitter.verification_attempts})
        return CodeCheck.WRONG
    sitter.phone_verified_at = sitter.consent_at = now
    sitter.verification_code_hash = sitter.verification_expires_at = None
    record(session, actor, AuditAction.SITTER_VERIFIED, object_type="sitter", object_id=sitter.id,
           patient_id=sitter.patient_id)
    return CodeCheck.VERIFIED
