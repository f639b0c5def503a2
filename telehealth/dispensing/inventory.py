"""The inventory ledger's verbs (SPEC §2, §8): append-only movements per patient and lot, and
on hand derived from them by the database, never stored.

Receipts are written by `operations.confirm_receipt`, doses taken by the dose-session room through
`record_dose_taken`; wasting, returning and reported counts are here.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing import rules
from telehealth.dispensing.models import Dispensing, InventoryMovement, MovementKind, Shipment
from telehealth.errors import NotAllowed, NotFound, RuleViolation
from telehealth.escalations import operations as escalations
from telehealth.escalations.rules import Reason, Severity


def add_movement(session: Session, actor: Actor, *, patient_id: int, lot_number: str, kind: MovementKind,
                 amount: int = 0, reported_count: int | None = None, shipment_id: int | None = None,
                 dose_session_id: int | None = None, witness_name: str | None = None,
                 note: str | None = None) -> InventoryMovement:
    """Append one movement; `amount` is unsigned, its sign comes from the kind."""
    movement = InventoryMovement(patient_id=patient_id, lot_number=lot_number, kind=kind,
                                 quantity=rules.signed_quantity(kind.value, amount), reported_count=reported_count,
                                 at=clock.now(), actor_user_id=actor.user_id, actor_label=actor.label,
                                 shipment_id=shipment_id, dose_session_id=dose_session_id,
                                 witness_name=witness_name, note=note)
    session.add(movement)
    session.flush()
    return movement


# --- on hand, derived --------------------------------------------------------------------

def on_hand_by_lot(session: Session, patient_id: int) -> dict[str, int]:
    """Every lot the patient has held, with what is left of it: summed by the database."""
    rows = session.execute(sa.select(InventoryMovement.lot_number, sa.func.sum(InventoryMovement.quantity))
                           .where(InventoryMovement.patient_id == patient_id,
                                  InventoryMovement.kind != MovementKind.COUNT_REPORTED)
                           .group_by(InventoryMovement.lot_number).order_by(InventoryMovement.lot_number))
    return {lot: int(total or 0) for lot, total in rows}


def on_hand(session: Session, patient_id: int) -> int:
    return sum(on_hand_by_lot(session, patient_id).values())


def _lots_by_expiry(session: Session, patient_id: int) -> list[tuple[str, int]]:
    """Lots on hand, soonest expiry first: the order they should be used in."""
    expiry = dict(session.execute(sa.select(Dispensing.lot_number, sa.func.min(Dispensing.lot_expiry))
                                  .join(Shipment, Shipment.dispensing_id == Dispensing.id)
                                  .where(Shipment.patient_id == patient_id).group_by(Dispensing.lot_number)).all())
    held = [(lot, left) for lot, left in on_hand_by_lot(session, patient_id).items() if left > 0]
    return sorted(held, key=lambda item: (expiry.get(item[0]) is None, expiry.get(item[0]), item[0]))


def ledger(session: Session, actor: Actor, patient_id: int, limit: int = 500) -> list[InventoryMovement]:
    """The patient's movements, newest first; a staff read is audited."""
    patient = patient_in_reach(session, actor, patient_id)
    movements = list(session.scalars(sa.select(InventoryMovement).where(InventoryMovement.patient_id == patient.id)
                                     .order_by(InventoryMovement.id.desc()).limit(limit)))
    if actor.role not in ("patient", "system"):
        record(session, actor, AuditAction.INVENTORY_READ, object_type="patient", object_id=patient.id,
               patient_id=patient.id)
    return movements


def patient_in_reach(session: Session, actor: Actor, patient_id: int) -> Patient:
    """The patient whose packages and ledger this actor may see: the patient, their care team,
    compliance, and pharmacists (who keep the ledger of every patient they dispense to)."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    if actor.role != "pharmacist":
        ensure_may_read_patient(actor, patient)
    return patient


def _may_write(actor: Actor, patient: Patient, *, staff: tuple[str, ...], by_patient: bool = True) -> None:
    """The staff roles named, the system, and (when `by_patient`) the patient themselves."""
    if actor.role == "system" or actor.role in staff:
        return
    if by_patient and actor.role == "patient" and actor.user_id == patient.user_id:
        return
    raise NotAllowed("You may not change this patient's inventory.", object_type="patient", object_id=patient.id,
                     patient_id=patient.id, hide_existence=actor.role == "patient")


# --- movements ---------------------------------------------------------------------------

def record_dose_taken(session: Session, actor: Actor, patient_id: int, amount: int, *,
                      dose_session_id: int | None = None) -> list[InventoryMovement]:
    """A dose was taken: take `amount` from the lots on hand, soonest expiry first. Refused when
    fewer are on hand than the dose needs (the dose sessions' gate checks that before clearing)."""
    if amount < 1:
        raise RuleViolation("A dose takes at least one item.", {"amount": ["Give a whole number of at least 1."]})
    lots = _lots_by_expiry(session, patient_id)
    if sum(left for _, left in lots) < amount:
        raise RuleViolation("Not enough on hand.", {"amount": ["Fewer items on hand than a dose takes."]})
    movements, needed = [], amount
    for lot, left in lots:
        take = min(left, needed)
        movements.append(add_movement(session, actor, patient_id=patient_id, lot_number=lot,
                                      kind=MovementKind.DOSE_TAKEN, amount=take, dose_session_id=dose_session_id))
        needed -= take
        if needed == 0:
            break
    return movements


def _removal(session: Session, actor: Actor, patient_id: int, *, lot_number: str, quantity: Any,
             kind: MovementKind, action: AuditAction, staff: tuple[str, ...], by_patient: bool = True,
             witness_name: str | None = None, note: str | None = None) -> InventoryMovement:
    patient = patient_in_reach(session, actor, patient_id)
    _may_write(actor, patient, staff=staff, by_patient=by_patient)
    lot = (lot_number or "").strip().upper()
    held = on_hand_by_lot(session, patient.id)
    if lot not in held:
        raise RuleViolation("That lot is not on this patient's ledger.",
                            {"lot_number": ["Choose a lot the patient holds: " + (", ".join(held) or "none") + "."]})
    amount = rules.check_removal(quantity, held[lot])
    movement = add_movement(session, actor, patient_id=patient.id, lot_number=lot, kind=kind, amount=amount,
                            witness_name=witness_name, note=(note or "").strip()[:2000] or None)
    record(session, actor, action, object_type="inventory_movement", object_id=movement.id, patient_id=patient.id,
           details={"lot_number": lot, "quantity": amount})
    return movement


def record_waste(session: Session, actor: Actor, patient_id: int, *, lot_number: str, quantity: Any,
                 witness_name: str, note: str | None = None) -> InventoryMovement:
    """Items destroyed, with a witness (SPEC §3 step 7): by the patient, their prescriber or the pharmacy."""
    witness = (witness_name or "").strip()
    if not witness or len(witness) > 120:
        raise RuleViolation("Wasting needs a witness.", {"witness_name": ["Give the witness's full name."]})
    return _removal(session, actor, patient_id, lot_number=lot_number, quantity=quantity, kind=MovementKind.WASTED,
                    action=AuditAction.INVENTORY_WASTED, staff=("prescriber", "pharmacist"), witness_name=witness,
                    note=note)


def record_return(session: Session, actor: Actor, patient_id: int, *, lot_number: str, quantity: Any,
                  note: str | None = None) -> InventoryMovement:
    """Items returned to the pharmacy: recorded by the pharmacist who received them."""
    return _removal(session, actor, patient_id, lot_number=lot_number, quantity=quantity,
                    kind=MovementKind.RETURNED, action=AuditAction.INVENTORY_RETURNED, staff=("pharmacist",),
                    by_patient=False, note=note)


def report_count(session: Session, actor: Actor, settings: Any, patient_id: int, count: Any, *,
                 channel: str) -> InventoryMovement:
    """Someone counted what the patient has on hand. A count that differs from the ledger raises a
    low compliance escalation (dashboard only); the count itself moves nothing."""
    patient = patient_in_reach(session, actor, patient_id)
    _may_write(actor, patient, staff=("prescriber", "pharmacist"))
    found = rules.check_count(count, settings.max_count)
    expected = on_hand(session, patient.id)
    movement = add_movement(session, actor, patient_id=patient.id, lot_number=rules.ALL_LOTS,
                            kind=MovementKind.COUNT_REPORTED, reported_count=found, note=f"via {channel}")
    record(session, actor, AuditAction.INVENTORY_COUNT_REPORTED, object_type="inventory_movement",
           object_id=movement.id, patient_id=patient.id, details={"count": found, "expected": expected})
    if found != expected:
        escalations.raise_escalation(session, actor, settings.escalations, patient_id=patient.id,
                                     reason=Reason.INVENTORY_DISCREPANCY, severity=Severity.LOW,
                                     reported=found, expected=expected, movement_id=movement.id)
    return movement


# --- corrections -------------------------------------------------------------------------

# What a correction may name: an entry that moved lozenges. A wrong count report is set right by
# a new count; a correction of a correction is allowed (it is itself a movement).
CORRECTABLE = frozenset(MovementKind) - {MovementKind.COUNT_REPORTED}


def correct_entry(session: Session, actor: Actor, settings: Any, patient_id: int, *, corrects_id: Any,
                  quantity: Any, note: str) -> InventoryMovement:
    """Set right an entry of the ledger (SPEC §8): the entry itself is never edited; a new
    correction entry names it, with the signed change to on hand and why. The pharmacy keeps
    the ledger, so only a pharmacist corrects it."""
    patient = patient_in_reach(session, actor, patient_id)
    _may_write(actor, patient, staff=("pharmacist",), by_patient=False)
    reason = (note or "").strip()
    if not reason or len(reason) > 2000:
        raise RuleViolation("A correction needs its reason.", {"note": ["Say what was wrong and how you know."]})
    corrected = session.get(InventoryMovement, corrects_id) if isinstance(corrects_id, int) else None
    if corrected is None or corrected.patient_id != patient.id:
        raise RuleViolation("That entry is not on this patient's ledger.",
                            {"corrects_id": ["Give the id of an entry of this patient's ledger."]})
    if corrected.kind not in CORRECTABLE:
        raise RuleViolation("A reported count is not corrected; report the right count instead.",
                            {"corrects_id": ["Choose an entry that moved lozenges."]})
    change = rules.check_correction(quantity, on_hand=on_hand_by_lot(session, patient.id).get(corrected.lot_number, 0),
                                    max_count=settings.max_count)
    movement = InventoryMovement(patient_id=patient.id, lot_number=corrected.lot_number, kind=MovementKind.CORRECTION,
                                 quantity=change, at=clock.now(), actor_user_id=actor.user_id,
                                 actor_label=actor.label, corrects_id=corrected.id, note=reason)
    session.add(movement)
    session.flush()
    record(session, actor, AuditAction.INVENTORY_CORRECTED, object_type="inventory_movement", object_id=movement.id,
           patient_id=patient.id, details={"corrects_id": corrected.id, "lot_number": corrected.lot_number,
                                           "quantity": change})
    return movement
