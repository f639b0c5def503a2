"""A wrong ledger entry is never edited: a pharmacist writes a correction naming it (SPEC §8)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.dispensing import inventory, operations
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dispensing.operations import DispensingSettings
from telehealth.errors import NotAllowed, RuleViolation
from tests.integration.dispensing_world import delivered_package, prescribe


@pytest.fixture
def settings(app):
    return DispensingSettings.from_config(app.config)


@pytest.fixture
def world(make, session, settings):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    pharmacist = make.user(Role.PHARMACIST, name="Ira Pharmacist")
    patient = make.patient(prescriber, name="Gale Harper")
    package = delivered_package(session, pharmacist, settings, prescribe(session, patient, prescriber))
    operations.confirm_receipt(session, Actor.for_user(patient.user), settings, patient_id=patient.id, count=8,
                               channel="web", shipment_id=package.id)
    received = session.scalar(sa.select(InventoryMovement).where(InventoryMovement.kind == MovementKind.RECEIVED))
    session.commit()
    return SimpleNamespace(prescriber=prescriber, pharmacist=pharmacist, patient=patient, received=received)


def correct(session, settings, user, world, **changes):
    arguments = {"corrects_id": world.received.id, "quantity": -1, "note": "Package held 7, miscounted as 8."}
    arguments.update(changes)
    return inventory.correct_entry(session, Actor.for_user(user), settings, world.patient.id, **arguments)


def ledger(session) -> list[tuple[MovementKind, int, int | None]]:
    session.expire_all()
    return [(m.kind, m.quantity, m.corrects_id)
            for m in session.scalars(sa.select(InventoryMovement).order_by(InventoryMovement.id))]


def test_a_correction_is_a_new_entry_naming_the_one_it_corrects_and_on_hand_follows(session, settings, world):
    correction = correct(session, settings, world.pharmacist, world)

    assert ledger(session) == [(MovementKind.RECEIVED, 8, None), (MovementKind.CORRECTION, -1, world.received.id)]
    assert correction.lot_number == world.received.lot_number and correction.note.startswith("Package held 7")
    assert inventory.on_hand(session, world.patient.id) == 7


def test_a_correction_is_audited_with_the_entry_it_corrects(session, settings, world):
    correction = correct(session, settings, world.pharmacist, world, quantity=2)
    session.flush()
    [event] = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.INVENTORY_CORRECTED.value))
    assert (event.object_id, event.patient_id) == (str(correction.id), world.patient.id)
    assert event.details == {"corrects_id": world.received.id, "lot_number": world.received.lot_number, "quantity": 2}


@pytest.mark.parametrize("quantity", [0, True, "1", 1.5, 10_000])
def test_a_change_that_is_zero_or_not_a_plausible_whole_number_is_refused(session, settings, world, quantity):
    with pytest.raises(RuleViolation) as refused:
        correct(session, settings, world.pharmacist, world, quantity=quantity)
    assert "quantity" in refused.value.errors
    assert len(ledger(session)) == 1


def test_taking_away_everything_on_hand_is_allowed_and_one_more_is_refused(session, settings, world):
    with pytest.raises(RuleViolation) as refused:
        correct(session, settings, world.pharmacist, world, quantity=-9)
    assert refused.value.errors["quantity"] == ["Only 8 on hand in this lot; take away at most that."]
    correct(session, settings, world.pharmacist, world, quantity=-8)
    assert inventory.on_hand(session, world.patient.id) == 0


def test_a_correction_without_a_reason_is_refused(session, settings, world):
    with pytest.raises(RuleViolation) as refused:
        correct(session, settings, world.pharmacist, world, note="  ")
    assert "note" in refused.value.errors and len(ledger(session)) == 1


def test_an_entry_of_another_patients_ledger_cannot_be_named(session, settings, world, make):
    other = make.patient(world.prescriber, name="Remy Other")
    with pytest.raises(RuleViolation) as refused:
        inventory.correct_entry(session, Actor.for_user(world.pharmacist), settings, other.id,
                                corrects_id=world.received.id, quantity=-1, note="wrong patient")
    assert "corrects_id" in refused.value.errors and len(ledger(session)) == 1


def test_a_reported_count_is_not_corrected_but_reported_again(session, settings, world):
    count = inventory.report_count(session, Actor.for_user(world.pharmacist), settings, world.patient.id, 8,
                                   channel="api")
    with pytest.raises(RuleViolation) as refused:
        correct(session, settings, world.pharmacist, world, corrects_id=count.id)
    assert "corrects_id" in refused.value.errors


def test_a_correction_may_itself_be_corrected(session, settings, world):
    first = correct(session, settings, world.pharmacist, world, quantity=-3)
    correct(session, settings, world.pharmacist, world, corrects_id=first.id, quantity=2, note="Only one was missing.")
    assert inventory.on_hand(session, world.patient.id) == 7


@pytest.mark.parametrize("who", ["prescriber", "patient"])
def test_only_the_pharmacy_corrects_the_ledger(session, settings, world, who):
    user = world.prescriber if who == "prescriber" else world.patient.user
    with pytest.raises(NotAllowed):
        correct(session, settings, user, world)
    assert len(ledger(session)) == 1


def test_compliance_staff_cannot_correct_the_ledger(session, settings, world, make):
    with pytest.raises(NotAllowed):
        correct(session, settings, make.user(Role.COMPLIANCE, name="Cory Compliance"), world)
    assert len(ledger(session)) == 1
