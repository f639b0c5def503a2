"""The verbs of prescribing: record a screening, override it, record a prescriber's DEA number,
issue a prescription, change its status, read and list. Each checks the rules, changes rows,
flushes, writes audit events, and never commits.

A screening and a prescription carry a human prescriber's name: the system never prescribes, so
only a prescriber acting for themselves (the patient's prescriber of record or backup) may.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Callable, Iterable, Mapping, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient, PatientStatus, Role, User
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.prescriptions import rules
from telehealth.prescriptions.models import Prescription, PrescriptionStatus, Screening


@dataclass(frozen=True)
class PrescribingSettings:
    fill_window_days: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "PrescribingSettings":
        return cls(fill_window_days=int(config["SCHEDULE_III_FILL_WINDOW_DAYS"]))


def _patient(session: Session, patient_id: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    return patient


def _ensure_prescribes_for(actor: Actor, patient: Patient, what: str) -> None:
    """Outsiders learn nothing (404); those who may read the patient but not prescribe
    (compliance, the patient, the system) are refused plainly (403)."""
    ensure_may_read_patient(actor, patient)
    if actor.role != Role.PRESCRIBER.value:
        raise NotAllowed(f"Only the patient's prescriber or backup {what}.", object_type="patient",
                         object_id=patient.id, patient_id=patient.id)


T = TypeVar("T")


def _collect(errors: dict[str, list[str]], check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run one rule, adding its field errors to `errors`, so all problems are reported together."""
    try:
        return check(*args, **kwargs)
    except RuleViolation as exc:
        for field, messages in exc.errors.items():
            errors.setdefault(field, []).extend(messages)
        return None


# --- screening ---------------------------------------------------------------------------

def latest_screening(session: Session, patient_id: int) -> Screening | None:
    """The screening in force: the newest supersedes the older ones. No access check: for
    operations that have made theirs."""
    return session.scalar(sa.select(Screening).where(Screening.patient_id == patient_id)
                          .order_by(Screening.recorded_at.desc(), Screening.id.desc()).limit(1))


def _audit_override(session: Session, actor: Actor, screening: Screening) -> None:
    # The reason's length, not its text: free clinical text stays on the screening.
    record(session, actor, AuditAction.SCREENING_OVERRIDDEN, object_type="screening", object_id=screening.id,
           patient_id=screening.patient_id, details={"contraindications": screening.contraindications,
                                                     "reason_length": len(screening.override_reason or "")})


def record_screening(session: Session, actor: Actor, patient_id: int, *, contraindications: list[str],
                     baseline_systolic: int, baseline_diastolic: int, phq9: int, gad7: int,
                     override_reason: str | None = None) -> Screening:
    """SPEC §3: the checklist and baseline. With contraindications found and an override reason,
    the prescriber clears prescribing in the same step."""
    patient = _patient(session, patient_id)
    _ensure_prescribes_for(actor, patient, "records screenings")
    errors: dict[str, list[str]] = {}
    values = _collect(errors, rules.check_screening, contraindications, baseline_systolic, baseline_diastolic,
                      phq9, gad7)
    reason = None
    if override_reason is not None:
        if values is not None and not values.contraindications:
            errors["override_reason"] = ["Nothing to override: no contraindication was found."]
        else:
            reason = _collect(errors, rules.check_override_reason, override_reason)
    if errors:
        raise RuleViolation("The screening was not recorded.", errors)
    assert values is not None
    now = clock.now()
    screening = Screening(patient_id=patient.id, recorded_by_id=actor.user_id, recorded_at=now,
                          contraindications=values.contraindications, baseline_systolic=values.baseline_systolic,
                          baseline_diastolic=values.baseline_diastolic, phq9=values.phq9, gad7=values.gad7)
    if reason is not None:
        screening.override_reason, screening.override_by_id, screening.override_at = reason, actor.user_id, now
    session.add(screening)
    session.flush()
    record(session, actor, AuditAction.SCREENING_RECORDED, object_type="screening", object_id=screening.id,
           patient_id=patient.id, details={"contraindications": values.contraindications,
                                           "blocks_prescribing": not screening.clears_prescribing})
    if reason is not None:
        _audit_override(session, actor, screening)
    return screening


def override_screening(session: Session, actor: Actor, screening_id: int, reason: str) -> Screening:
    """Clear prescribing later, on the screening in force, with a reason."""
    screening = session.get(Screening, screening_id, with_for_update=True)
    if screening is None:
        raise NotFound(f"No screening {screening_id}.")
    _ensure_prescribes_for(actor, screening.patient, "overrides screenings")
    if not screening.contraindications:
        raise Conflict("Nothing to override: this screening found no contraindication.")
    if screening.override_at is not None:
        raise Conflict("This screening was already overridden.")
    latest = latest_screening(session, screening.patient_id)
    if latest is not None and latest.id != screening.id:
        raise Conflict("A newer screening supersedes this one: override that one instead.")
    text = rules.check_override_reason(reason)
    screening.override_reason, screening.override_by_id, screening.override_at = text, actor.user_id, clock.now()
    session.flush()
    _audit_override(session, actor, screening)
    return screening


# --- the prescriber's DEA number ---------------------------------------------------------

def set_dea_number(session: Session, actor: Actor, user: User, raw: str) -> None:
    if actor.role not in ("admin", "system"):
        raise NotAllowed("Only an administrator records DEA numbers.", object_type="user", object_id=user.id)
    if user.role is not Role.PRESCRIBER:
        raise RuleViolation("Only prescribers have a DEA number.", {"role": ["This account is not a prescriber."]})
    number = rules.check_dea_number(raw)
    holder = session.scalar(sa.select(User.id).where(User.dea_number == number, User.id != user.id))
    if holder is not None:
        raise RuleViolation("That DEA number belongs to another account.",
                            {"dea_number": ["This DEA number is already recorded for another prescriber."]})
    previous, user.dea_number = user.dea_number, number
    session.flush()
    # Not a secret: the number is printed on every prescription the prescriber signs.
    record(session, actor, AuditAction.DEA_NUMBER_SET, object_type="user", object_id=user.id,
           details={"dea_number": number, "previous": previous})


# --- prescriptions -----------------------------------------------------------------------

def issue_prescription(session: Session, actor: Actor, patient_id: int, *, strength_mg: int,
                       lozenges_per_dose: int, quantity: int, refills: int, directions: str, doses_in_series: int,
                       min_hours_between_doses: int, max_doses_per_7_days: int, drug: str = "ketamine HCl",
                       dosage_form: str = "sublingual lozenge", issued_on: date | None = None,
                       window_days: int = rules.DEFAULT_FILL_WINDOW_DAYS,
                       status: PrescriptionStatus | str = PrescriptionStatus.ACTIVE) -> Prescription:
    """SPEC §3 step 3. Callers pass `window_days` from `PrescribingSettings`. Every problem (the
    terms, the prescriber's DEA number, the screening, the date) is reported together."""
    patient = _patient(session, patient_id)
    _ensure_prescribes_for(actor, patient, "prescribes")
    errors: dict[str, list[str]] = {}
    terms = _collect(errors, rules.check_prescription, drug=drug, strength_mg=strength_mg, dosage_form=dosage_form,
                     lozenges_per_dose=lozenges_per_dose, quantity=quantity, refills=refills, directions=directions,
                     doses_in_series=doses_in_series, min_hours_between_doses=min_hours_between_doses,
                     max_doses_per_7_days=max_doses_per_7_days)
    today = clock.now().date()  # the clock is UTC: so is the issue date
    issued_on = today if issued_on is None else issued_on
    _collect(errors, rules.check_issued_on, issued_on, today)
    initial = _collect(errors, rules.check_initial_status, status)
    prescriber = session.get(User, actor.user_id)
    if prescriber is None or not prescriber.dea_number:
        errors.setdefault("prescriber", []).append("Record your DEA number first: a prescription carries it.")
    if patient.status is PatientStatus.DISCHARGED:
        errors.setdefault("patient", []).append("The patient is discharged.")
    screening = latest_screening(session, patient.id)
    if screening is None:
        errors.setdefault("screening", []).append("Record a screening first: it must clear prescribing.")
    elif not screening.clears_prescribing:
        errors.setdefault("screening", []).append(rules.blocked_message(screening.contraindications))
    if errors:
        raise RuleViolation("The prescription was not issued.", errors)
    assert terms is not None and initial is not None and prescriber is not None and screening is not None
    now = clock.now()
    prescription = Prescription(
        patient_id=patient.id, prescriber_id=prescriber.id, prescriber_dea_number=prescriber.dea_number,
        screening_id=screening.id, **asdict(terms), issued_on=issued_on,
        expires_on=rules.expiry_for(issued_on, window_days), status=initial,
        created_at=now, status_changed_at=now)
    session.add(prescription)
    session.flush()
    record(session, actor, AuditAction.PRESCRIPTION_ISSUED, object_type="prescription", object_id=prescription.id,
           patient_id=patient.id, details={"status": prescription.status.value, "screening_id": screening.id,
                                           "quantity": terms.quantity, "refills": terms.refills,
                                           "expires_on": prescription.expires_on.isoformat()})
    return prescription


def change_prescription_status(session: Session, actor: Actor, prescription_id: int,
                               new_status: PrescriptionStatus | str, note: str | None) -> Prescription:
    prescription = session.get(Prescription, prescription_id, with_for_update=True)
    if prescription is None:
        raise NotFound(f"No prescription {prescription_id}.")
    _ensure_prescribes_for(actor, prescription.patient, "changes prescriptions")
    new = rules.parse_status(new_status)
    text = rules.check_status_note(new, note)
    old = prescription.status
    rules.check_transition(old, new)
    if new is PrescriptionStatus.ACTIVE:
        _ensure_may_activate(session, prescription)
    prescription.status, prescription.status_changed_at, prescription.status_note = new, clock.now(), text
    session.flush()
    record(session, actor, AuditAction.PRESCRIPTION_STATUS_CHANGED, object_type="prescription",
           object_id=prescription.id, patient_id=prescription.patient_id,
           details={"from": old.value, "to": new.value})
    return prescription


def _ensure_may_activate(session: Session, prescription: Prescription) -> None:
    """Activating a draft or resuming a suspension: a newer screening may have found what blocks
    prescribing since the prescription was issued, and an expired one can never be filled."""
    errors: dict[str, list[str]] = {}
    screening = latest_screening(session, prescription.patient_id)
    if screening is not None and not screening.clears_prescribing:
        errors["screening"] = [rules.blocked_message(screening.contraindications)]
    if clock.now().date() >= prescription.expires_on:
        errors["status"] = [f"The prescription expired on {prescription.expires_on.isoformat()}."]
    if errors:
        raise RuleViolation("The prescription was not made active.", errors)


def read_prescription(session: Session, actor: Actor, prescription_id: int) -> Prescription:
    prescription = session.get(Prescription, prescription_id)
    if prescription is None:
        raise NotFound(f"No prescription {prescription_id}.")
    patient = prescription.patient
    if not rules.may_read_prescription(actor.role, actor.user_id, patient_user_id=patient.user_id,
                                       care_team=(patient.prescriber_id, patient.backup_prescriber_id)):
        raise NotAllowed("This prescription is not in your care.", object_type="prescription",
                         object_id=prescription_id, patient_id=patient.id, hide_existence=True)
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.PRESCRIPTION_READ, object_type="prescription",
               object_id=prescription.id, patient_id=patient.id)
    return prescription


def list_prescriptions(session: Session, actor: Actor, *, patient_id: int | None = None,
                       statuses: Iterable[PrescriptionStatus | str] | None = None) -> list[Prescription]:
    """Newest first. Prescribers see their own and backed-up patients'; pharmacists and compliance
    see all; a patient sees their own."""
    query = sa.select(Prescription).join(Prescription.patient)
    if actor.role == "prescriber":
        query = query.where(sa.or_(Patient.prescriber_id == actor.user_id,
                                   Patient.backup_prescriber_id == actor.user_id))
    elif actor.role == "patient":
        query = query.where(Patient.user_id == actor.user_id)
    elif actor.role not in ("pharmacist", "compliance"):
        raise NotAllowed("Prescriptions are for prescribers, pharmacists, compliance and patients.",
                         object_type="prescription")
    if patient_id is not None:
        query = query.where(Prescription.patient_id == patient_id)
    if statuses:
        query = query.where(Prescription.status.in_([rules.parse_status(s) for s in statuses]))
    prescriptions = list(session.scalars(query.order_by(Prescription.issued_on.desc(), Prescription.id.desc())))
    if actor.role != "patient":
        record(session, actor, AuditAction.PRESCRIPTION_LIST_READ, object_type="prescription",
               patient_id=patient_id, details={"prescription_ids": [p.id for p in prescriptions]})
    return prescriptions
