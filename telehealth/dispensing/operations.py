"""The verbs of dispensing (SPEC §3): fill a prescription with a lot, ship it (staged release),
mark it delivered, the patient's receipt with the count found, a package lost in transit and the
pharmacy's DEA filings, and the receipt-overdue sweep."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing import inventory, rules
from telehealth.dispensing.models import Dispensing, MovementKind, ReleaseOverride, Shipment
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity, State
from telehealth.messaging import outbox, templates
from telehealth.prescriptions.models import Prescription, PrescriptionStatus

RECEIPT_SWEEP = Actor.system("receipt overdue sweep")


@dataclass(frozen=True)
class DispensingSettings:
    clinic: str
    fill_window_days: int
    receipt_confirmation: timedelta
    max_count: int
    escalations: EscalationSettings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DispensingSettings":
        return cls(clinic=config["CLINIC_NAME"], fill_window_days=int(config["SCHEDULE_III_FILL_WINDOW_DAYS"]),
                   receipt_confirmation=timedelta(days=float(config["RECEIPT_CONFIRMATION_DAYS"])),
                   max_count=int(config["INVENTORY_MAX_PLAUSIBLE_COUNT"]),
                   escalations=EscalationSettings.from_config(config))


def _today() -> date:
    return clock.now().date()


def _audit(session: Session, actor: Actor, action: AuditAction, shipment_or_fill: Shipment | Dispensing,
           patient_id: int, **details: Any) -> None:
    kind = "shipment" if isinstance(shipment_or_fill, Shipment) else "dispensing"
    record(session, actor, action, object_type=kind, object_id=shipment_or_fill.id, patient_id=patient_id,
           details=details)


def _text_patient(session: Session, patient: Patient, sms: templates.Sms) -> None:
    if patient.phone:
        outbox.enqueue(session, to=patient.phone, sms=sms, owner_type="shipment", patient_id=patient.id)


# --- filling -----------------------------------------------------------------------------

def dispense(session: Session, actor: Actor, settings: DispensingSettings, prescription_id: int, *,
             quantity: Any, lot_number: str, lot_expiry: date | None) -> Dispensing:
    """One fill by a pharmacist, never the prescriber of the prescription. Each fill counts against
    the quantity and the refills; a fill on or after day 182 from issue, or from an expired lot,
    is refused. The prescription row is locked so two pharmacists cannot use the same refill."""
    prescription = session.get(Prescription, prescription_id, with_for_update=True)
    if prescription is None:
        raise NotFound(f"No prescription {prescription_id}.")
    try:
        rules.check_dispenser(role=actor.role, user_id=actor.user_id, prescriber_id=prescription.prescriber_id)
    except NotAllowed as refusal:  # the audited refusal names what was refused
        refusal.object_id, refusal.patient_id = prescription.id, prescription.patient_id
        raise
    fills = session.scalar(sa.select(sa.func.count()).select_from(Dispensing)
                           .where(Dispensing.prescription_id == prescription.id)) or 0
    today = _today()
    errors: dict[str, list[str]] = {}
    try:
        rules.check_fill(status=prescription.status.value, fill_number=fills + 1, refills=prescription.refills,
                         issued_on=prescription.issued_on, expires_on=prescription.expires_on, today=today,
                         quantity=quantity, max_quantity=prescription.quantity, window_days=settings.fill_window_days)
    except RuleViolation as error:
        errors.update(error.errors)
    try:
        lot, expiry = rules.check_lot(lot_number, lot_expiry, today)
    except RuleViolation as error:
        errors.update(error.errors)
    if errors:
        raise RuleViolation("This fill cannot be dispensed.", errors)
    fill = Dispensing(prescription_id=prescription.id, fill_number=fills + 1, quantity=quantity, lot_number=lot,
                      lot_expiry=expiry, pharmacist_id=actor.user_id, dispensed_at=clock.now())
    session.add(fill)
    session.flush()
    _audit(session, actor, AuditAction.DISPENSED, fill, prescription.patient_id, prescription_id=prescription.id,
           fill_number=fill.fill_number, quantity=fill.quantity, lot_number=fill.lot_number)
    return fill


# --- staged release ----------------------------------------------------------------------

# Other rooms add what holds a patient's next package: the dose-session room adds "an earlier
# session lacks a complete record". Each returns human-readable reasons (empty: nothing holds it).
ReleaseCheck = Callable[[Session, int], list[str]]
RELEASE_CHECKS: list[ReleaseCheck] = []


def register_release_check(check: ReleaseCheck) -> None:
    if check not in RELEASE_CHECKS:
        RELEASE_CHECKS.append(check)


def _open_escalations(session: Session, patient_id: int) -> list[str]:
    open_ones = session.execute(sa.select(Escalation.id, Escalation.reason).where(
        Escalation.patient_id == patient_id, Escalation.state != State.RESOLVED).order_by(Escalation.id))
    return [f"alert {number} ({reason.label}) is not resolved" for number, reason in open_ones]


def release_blockers(session: Session, patient_id: int) -> list[str]:
    """Why the patient's next package may not leave yet (SPEC §3 step 5); empty when it may."""
    return _open_escalations(session, patient_id) + [problem for check in RELEASE_CHECKS
                                                     for problem in check(session, patient_id)]


@dataclass(frozen=True)
class ReleaseStatus:
    blockers: list[str]
    override: ReleaseOverride | None

    @property
    def held(self) -> bool:
        return bool(self.blockers) and self.override is None


def release_status(session: Session, actor: Actor, patient_id: int) -> ReleaseStatus:
    """May the patient's next package leave? For whoever may see the patient's packages."""
    return _release(session, inventory.patient_in_reach(session, actor, patient_id).id)


def _release(session: Session, patient_id: int) -> ReleaseStatus:
    return ReleaseStatus(release_blockers(session, patient_id), unused_override(session, patient_id))


def unused_override(session: Session, patient_id: int) -> ReleaseOverride | None:
    used = sa.select(Shipment.release_override_id).where(Shipment.release_override_id.is_not(None))
    return session.scalar(sa.select(ReleaseOverride).where(ReleaseOverride.patient_id == patient_id,
                                                           ReleaseOverride.id.not_in(used))
                          .order_by(ReleaseOverride.id.desc()).limit(1))


def authorize_release(session: Session, actor: Actor, patient_id: int, reason: str) -> ReleaseOverride:
    """A prescriber of the patient lets the next package leave although something holds it."""
    # Locked: one release decision per patient at a time (two prescribers at once authorize once).
    patient = session.get(Patient, patient_id, with_for_update=True)
    if patient is None:
        raise NotFound("No such patient.")
    if actor.role != "prescriber":
        raise NotAllowed("Only the patient's prescriber can authorize a held release.", object_type="patient",
                         object_id=patient_id, patient_id=patient_id)
    ensure_may_read_patient(actor, patient)
    reason = (reason or "").strip()
    if not reason or len(reason) > 2000:
        raise RuleViolation("Say why the package may leave.", {"reason": ["Give a reason (up to 2000 characters)."]})
    blockers = release_blockers(session, patient.id)
    if not blockers:
        raise Conflict("Nothing holds this patient's next package: no authorization is needed.")
    if unused_override(session, patient.id) is not None:
        raise Conflict("A release is already authorized and not yet used.")
    override = ReleaseOverride(patient_id=patient.id, authorized_by_id=actor.user_id, authorized_at=clock.now(),
                               reason=reason, blockers=blockers)
    session.add(override)
    session.flush()
    record(session, actor, AuditAction.RELEASE_AUTHORIZED, object_type="release_override", object_id=override.id,
           patient_id=patient.id, details={"blockers": blockers})
    return override


# --- shipping and delivery ---------------------------------------------------------------

def _pharmacist(actor: Actor, what: str) -> None:
    if actor.role not in ("pharmacist", "system"):
        raise NotAllowed(f"Only pharmacists {what}.", object_type="shipment")


def ship(session: Session, actor: Actor, settings: DispensingSettings, dispensing_id: int, *, carrier: str,
         tracking_number: str) -> Shipment:
    """Mail a fill to the patient. Held while the staged-release check finds anything, unless a
    prescriber authorized this release; the authorization is used up by this package."""
    _pharmacist(actor, "ship packages")
    fill = session.get(Dispensing, dispensing_id, with_for_update=True)
    if fill is None:
        raise NotFound(f"No dispensing {dispensing_id}.")
    if fill.shipment is not None:
        raise Conflict(f"Dispensing {dispensing_id} has already shipped.")
    errors: dict[str, list[str]] = {}
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    if not carrier or len(carrier) > 40:
        errors["carrier"] = ["Give the carrier (up to 40 characters)."]
    if not rules.TRACKING_NUMBER.match(tracking_number):
        errors["tracking_number"] = ["Give the tracking number: letters and digits, up to 60."]
    if errors:
        raise RuleViolation("The package was not shipped.", errors)
    patient_id = fill.prescription.patient_id
    # Locked: one release decision per patient at a time, so two packages shipping at once cannot
    # both use one authorization (the loser is held, not crashed on the unique key).
    session.get(Patient, patient_id, with_for_update=True)
    override = None
    blockers = release_blockers(session, patient_id)
    if blockers:
        override = unused_override(session, patient_id)
        if override is None:
            raise Conflict("Staged release: this package is held until a prescriber authorizes it.",
                           {"release": blockers})
    shipment = Shipment(dispensing_id=fill.id, patient_id=patient_id, carrier=carrier,
                        tracking_number=tracking_number, shipped_at=clock.now(), shipped_by_id=actor.user_id,
                        release_override_id=override.id if override else None)
    session.add(shipment)
    session.flush()
    _audit(session, actor, AuditAction.SHIPMENT_SHIPPED, shipment, patient_id, dispensing_id=fill.id,
           release_override_id=shipment.release_override_id)
    _text_patient(session, fill.prescription.patient, templates.package_shipped(settings.clinic))
    return shipment


def _shipment(session: Session, shipment_id: int) -> Shipment:
    # populate_existing: a row already loaded in this session (say, by `awaiting_receipt`) must show
    # what the lock found, or a concurrent receipt is not seen and the package is received twice.
    shipment = session.get(Shipment, shipment_id, with_for_update=True, populate_existing=True)
    if shipment is None:
        raise NotFound(f"No shipment {shipment_id}.")
    return shipment


def mark_delivered(session: Session, actor: Actor, settings: DispensingSettings, shipment_id: int) -> Shipment:
    """The carrier says it arrived: the patient is asked to count it; the 3-day clock starts."""
    _pharmacist(actor, "record deliveries")
    shipment = _shipment(session, shipment_id)
    if shipment.state != "in transit":
        raise Conflict(f"Shipment {shipment_id} is {shipment.state}, not in transit.")
    shipment.delivered_at = clock.now()
    _audit(session, actor, AuditAction.SHIPMENT_DELIVERED, shipment, shipment.patient_id)
    _text_patient(session, shipment.patient, templates.package_delivered(settings.clinic))
    return shipment


# --- receipt -----------------------------------------------------------------------------

NO_PACKAGE_WAITING = "We have no package waiting for your count. If one arrived, please call the clinic."


def awaiting_receipt(session: Session, patient_id: int) -> list[Shipment]:
    """Packages shipped to the patient and not yet counted or reported lost, oldest first."""
    return list(session.scalars(sa.select(Shipment).where(
        Shipment.patient_id == patient_id, Shipment.received_at.is_(None), Shipment.lost_reported_at.is_(None))
        .order_by(Shipment.shipped_at, Shipment.id)))


def confirm_receipt(session: Session, actor: Actor, settings: DispensingSettings, *, patient_id: int, count: Any,
                    channel: str, shipment_id: int | None = None) -> Shipment:
    """The patient confirms a package with the count they found (`RECEIVED 8` or the web). Without
    a shipment id (SMS), the oldest package awaiting a count is meant. The ledger receives what was
    found; a count that differs from what was shipped raises a compliance escalation."""
    patient = session.get(Patient, patient_id)
    if patient is None or actor.role != "patient" or actor.user_id != patient.user_id:
        raise NotAllowed("Only the patient confirms their own packages.", object_type="shipment",
                         object_id=shipment_id, patient_id=patient_id, hide_existence=True)
    if shipment_id is not None:  # whose package it is comes before what was typed about it
        shipment = _shipment(session, shipment_id)
        if shipment.patient_id != patient.id:
            raise NotAllowed("That package is not yours.", object_type="shipment", object_id=shipment_id,
                             patient_id=patient.id, hide_existence=True)
    found = rules.check_count(count, settings.max_count)
    if shipment_id is None:
        waiting = awaiting_receipt(session, patient.id)
        if not waiting:
            raise Conflict(NO_PACKAGE_WAITING)
        shipment = _shipment(session, waiting[0].id)
    if shipment.state in ("received", "lost"):
        raise Conflict(f"That package is already {shipment.state}.")
    now = clock.now()
    shipment.received_at, shipment.received_count, shipment.received_via = now, found, channel
    shipment.delivered_at = shipment.delivered_at or now
    fill = shipment.dispensing
    inventory.add_movement(session, actor, patient_id=patient.id, lot_number=fill.lot_number,
                           kind=MovementKind.RECEIVED, amount=found, shipment_id=shipment.id, note=f"via {channel}")
    _audit(session, actor, AuditAction.SHIPMENT_RECEIVED, shipment, patient.id, count=found, shipped=fill.quantity,
           channel=channel)
    if found != fill.quantity:
        escalations.raise_escalation(session, actor, settings.escalations, patient_id=patient.id,
                                     reason=Reason.RECEIPT_DISCREPANCY, severity=Severity.HIGH,
                                     shipment_id=shipment.id, shipped=fill.quantity, received=found)
    return shipment


def overdue_receipt_ids(session: Session, settings: DispensingSettings, limit: int = 200) -> list[int]:
    cutoff = clock.now() - settings.receipt_confirmation
    return list(session.scalars(sa.select(Shipment.id).where(
        Shipment.delivered_at <= cutoff, Shipment.received_at.is_(None), Shipment.lost_reported_at.is_(None),
        Shipment.receipt_overdue_at.is_(None)).order_by(Shipment.delivered_at).limit(limit)))


def escalate_overdue_receipt(session: Session, settings: DispensingSettings, shipment_id: int) -> bool:
    """Claim one overdue package with a conditional update (so two schedulers escalate it once) and
    raise the compliance escalation. Returns whether this call did it."""
    now = clock.now()
    claimed = session.execute(sa.update(Shipment).where(
        Shipment.id == shipment_id, Shipment.receipt_overdue_at.is_(None), Shipment.received_at.is_(None),
        Shipment.lost_reported_at.is_(None), Shipment.delivered_at <= now - settings.receipt_confirmation)
        .values(receipt_overdue_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        return False
    shipment = session.get(Shipment, shipment_id, populate_existing=True)  # as the claim just left it
    _audit(session, RECEIPT_SWEEP, AuditAction.SHIPMENT_RECEIPT_OVERDUE, shipment, shipment.patient_id)
    escalations.raise_escalation(session, RECEIPT_SWEEP, settings.escalations, patient_id=shipment.patient_id,
                                 reason=Reason.RECEIPT_OVERDUE, severity=Severity.MODERATE, shipment_id=shipment.id)
    return True


# --- loss in transit ---------------------------------------------------------------------

LOSS_REPORTERS = ("pharmacist", "compliance", "prescriber")


def report_lost(session: Session, actor: Actor, settings: DispensingSettings, shipment_id: int,
                note: str) -> Shipment:
    """A package lost or never delivered: a possible in-transit loss of a Schedule III drug. An
    urgent compliance escalation tracks the pharmacy's DEA notice and Form 106 until both are on record."""
    shipment = _shipment(session, shipment_id)
    if actor.role not in LOSS_REPORTERS:
        raise NotAllowed("Only clinic staff report a package lost.", object_type="shipment", object_id=shipment_id,
                         patient_id=shipment.patient_id)
    if actor.role == "prescriber":
        ensure_may_read_patient(actor, shipment.patient)
    if shipment.state in ("received", "lost"):
        raise Conflict(f"Shipment {shipment_id} is already {shipment.state}.")
    note = (note or "").strip()
    if not note or len(note) > 2000:
        raise RuleViolation("Say what is known of the loss.", {"note": ["Give a note (up to 2000 characters)."]})
    shipment.lost_reported_at = clock.now()
    _audit(session, actor, AuditAction.SHIPMENT_LOST, shipment, shipment.patient_id, note_length=len(note))
    escalation = escalations.raise_escalation(session, actor, settings.escalations, patient_id=shipment.patient_id,
                                              reason=Reason.SHIPMENT_LOST, severity=Severity.URGENT,
                                              shipment_id=shipment.id, note=note)
    shipment.lost_escalation_id = escalation.id
    return shipment


def record_loss_filings(session: Session, actor: Actor, shipment_id: int, *, dea_notice_on: date | None = None,
                        form_106_filed_on: date | None = None, form_106_number: str | None = None) -> Shipment:
    """Record the DEA notice and Form 106 (either or both; a date once recorded is not changed)."""
    if actor.role not in ("pharmacist", "compliance"):
        raise NotAllowed("Only the pharmacy or compliance staff record DEA filings.", object_type="shipment",
                         object_id=shipment_id)
    shipment = _shipment(session, shipment_id)
    if shipment.lost_reported_at is None:
        raise Conflict(f"Shipment {shipment_id} is not reported lost.")
    today, lost_on = _today(), shipment.lost_reported_at.date()
    errors: dict[str, list[str]] = {}
    number = (form_106_number or "").strip().upper() or None
    for field, value, already in (("dea_notice_on", dea_notice_on, shipment.dea_notice_on),
                                  ("form_106_filed_on", form_106_filed_on, shipment.form_106_filed_on)):
        if value is None:
            continue
        if already is not None:
            errors[field] = [f"Already recorded ({already.isoformat()}); a correction is a note to compliance."]
        elif value > today or value < lost_on:
            errors[field] = [f"Give a date between {lost_on.isoformat()} and today."]
    if (form_106_filed_on is None) != (number is None) and shipment.form_106_filed_on is None:
        errors["form_106_number"] = ["Give the Form 106 date and its number together."]
    elif number is not None and not rules.FORM_106_NUMBER.match(number):
        errors["form_106_number"] = ["Give the Form 106 number: letters, digits and hyphens, up to 40."]
    if dea_notice_on is None and form_106_filed_on is None:
        errors.setdefault("dea_notice_on", ["Give the DEA notice date, the Form 106 filing, or both."])
    if errors:
        raise RuleViolation("The filing was not recorded.", errors)
    if dea_notice_on is not None:
        shipment.dea_notice_on = dea_notice_on
    if form_106_filed_on is not None:
        shipment.form_106_filed_on, shipment.form_106_number = form_106_filed_on, number
    _audit(session, actor, AuditAction.SHIPMENT_LOSS_FILED, shipment, shipment.patient_id,
           dea_notice_on=dea_notice_on.isoformat() if dea_notice_on else None,
           form_106_filed_on=form_106_filed_on.isoformat() if form_106_filed_on else None)
    return shipment


def loss_filings_missing(session: Session, escalation: Escalation) -> str | None:
    """The resolution guard of a lost-package escalation: it stays open until both filings exist."""
    shipment = session.scalar(sa.select(Shipment).where(Shipment.lost_escalation_id == escalation.id))
    if shipment is None:
        return None
    missing = [what for what, value in (("the DEA notice date", shipment.dea_notice_on),
                                        ("the Form 106 filing", shipment.form_106_filed_on)) if value is None]
    if missing:
        return f"Record {' and '.join(missing)} for shipment {shipment.id} before resolving this alert."
    return None


# --- reading -----------------------------------------------------------------------------

def shipments_for(session: Session, actor: Actor, patient_id: int) -> list[Shipment]:
    """A patient's packages, newest first: the patient, their care team, compliance, pharmacists."""
    patient = inventory.patient_in_reach(session, actor, patient_id)
    shipments = list(session.scalars(sa.select(Shipment).where(Shipment.patient_id == patient.id)
                                     .order_by(Shipment.shipped_at.desc(), Shipment.id.desc())))
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.SHIPMENT_READ, object_type="patient", object_id=patient.id,
               patient_id=patient.id, details={"shipment_ids": [s.id for s in shipments]})
    return shipments


def fills_for(session: Session, prescription_id: int) -> list[Dispensing]:
    return list(session.scalars(sa.select(Dispensing).where(Dispensing.prescription_id == prescription_id)
                                .order_by(Dispensing.fill_number)))


@dataclass(frozen=True)
class QueueItem:
    """One line of the pharmacist's work: a prescription with fills left, or a fill not yet shipped."""

    prescription: Prescription
    fills_used: int
    unshipped: list[Dispensing]
    blockers: list[str]
    override: ReleaseOverride | None

    @property
    def fills_left(self) -> int:
        return 1 + self.prescription.refills - self.fills_used


def pharmacy_queue(session: Session, actor: Actor, settings: DispensingSettings) -> list[QueueItem]:
    """Active prescriptions still fillable, and fills waiting to ship, with what holds each release."""
    if actor.role != "pharmacist":
        raise NotAllowed("The dispensing queue is for pharmacists.", object_type="prescription")
    window_start = _today() - timedelta(days=settings.fill_window_days - 1)
    prescriptions = session.scalars(sa.select(Prescription).where(
        Prescription.status == PrescriptionStatus.ACTIVE, Prescription.issued_on >= window_start,
        Prescription.expires_on > _today()).order_by(Prescription.issued_on, Prescription.id))
    items = []
    for prescription in prescriptions:
        fills = fills_for(session, prescription.id)
        unshipped = [fill for fill in fills if fill.shipment is None]
        if len(fills) > prescription.refills and not unshipped:
            continue  # every fill used and shipped: nothing to do
        release = _release(session, prescription.patient_id)
        items.append(QueueItem(prescription, len(fills), unshipped, release.blockers, release.override))
    record(session, actor, AuditAction.PHARMACY_QUEUE_READ, object_type="prescription",
           details={"prescription_ids": [item.prescription.id for item in items]})
    return items
