"""Dispensing and sitter codes under concurrency, on a real committed database (PostgreSQL in the
second run): two overdue sweeps escalate a package once; two pharmacists never both use the last
refill; a package is received once however many texts arrive together; one release authorization
ships one package, and two prescribers at once authorize once; racing wrong codes each count.

Each loser must get a clean refusal (a domain error, a reply), never a database crash."""
import threading
from datetime import date
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from telehealth.accounts import sitters
from telehealth.accounts.models import Role, Sitter
from telehealth.accounts.sitters import SitterSettings
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.db import database
from telehealth.dispensing import inventory, operations
from telehealth.dispensing.jobs import escalate_overdue_receipts
from telehealth.dispensing.models import Dispensing, InventoryMovement, ReleaseOverride, Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.errors import Conflict, DomainError, RuleViolation
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message
from tests.conftest import Builder
from tests.flows.sms import reply_of, text_in
from tests.integration.dispensing_world import delivered_package, dispense, prescribe

ROUNDS = 8
LOT_EXPIRY = date(2027, 12, 31)


@pytest.fixture
def world(committed_app):
    """A prescriber and a backup, two pharmacists, a compliance officer and ROUNDS patients; the
    session that made them, for arranging more (committed, so other threads see it)."""
    with database(committed_app).new_session() as session:
        builder = Builder(session, committed_app.extensions["account_policy"])
        prescriber, backup = builder.user(Role.PRESCRIBER), builder.user(Role.PRESCRIBER)
        pharmacists = [builder.user(Role.PHARMACIST), builder.user(Role.PHARMACIST)]
        officer = builder.user(Role.COMPLIANCE, phone=builder.phone())
        patients = [builder.patient(prescriber, backup) for _ in range(ROUNDS)]
        yield SimpleNamespace(app=committed_app, session=session, prescriber=prescriber, backup=backup,
                              pharmacists=pharmacists, officer=officer, patients=patients,
                              settings=DispensingSettings.from_config(committed_app.config))


def race(*work) -> list[object]:
    """Start every callable at the same instant; return what each returned or raised."""
    start = threading.Barrier(len(work))
    outcomes: list[object] = [None] * len(work)

    def run(index, fn):
        try:
            start.wait()
            outcomes[index] = fn()
        except BaseException as error:  # noqa: BLE001 - returned to the test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racer hung"
    return outcomes


def fresh_session(world):
    return database(world.app).new_session()


def test_two_overdue_sweeps_at_once_escalate_each_package_exactly_once(world, clock):
    for patient in world.patients:
        prescription = prescribe(world.session, patient, world.prescriber)
        delivered_package(world.session, world.pharmacists[0], world.settings, prescription)
    clock.advance(days=3)
    with world.app.app_context():
        outcomes = race(lambda: escalate_overdue_receipts(JobContext(world.app)),
                        lambda: escalate_overdue_receipts(JobContext(world.app)))
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert sum(o.get("overdue receipts", 0) for o in outcomes) == ROUNDS
    with fresh_session(world) as session:
        overdue = list(session.scalars(sa.select(Escalation).where(Escalation.reason == Reason.RECEIPT_OVERDUE)))
        assert sorted(e.patient_id for e in overdue) == sorted(p.id for p in world.patients)
        assert all(e.trigger_count == 1 for e in overdue)
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == AuditAction.SHIPMENT_RECEIPT_OVERDUE.value)) == ROUNDS
        assert session.scalar(sa.select(sa.func.count()).select_from(Message).where(
            Message.owner_type == "escalation")) == ROUNDS  # one page each, to the officer


def test_two_pharmacists_dispensing_the_last_refill_at_once_fill_it_once(world):
    prescriptions = []
    for patient in world.patients:
        prescription = prescribe(world.session, patient, world.prescriber, refills=1)
        dispense(world.session, world.pharmacists[0], world.settings, prescription)  # one fill left
        prescriptions.append(prescription)
    job = JobContext(world.app)

    def fill_by(pharmacist, prescription_id):
        def run():
            with job.transaction() as session:
                return operations.dispense(session, Actor.for_user(pharmacist), world.settings, prescription_id,
                                           quantity=8, lot_number="LOT-A1", lot_expiry=LOT_EXPIRY).fill_number
        return run

    for prescription in prescriptions:
        outcomes = race(*(fill_by(pharmacist, prescription.id) for pharmacist in world.pharmacists))
        assert sorted(o for o in outcomes if isinstance(o, int)) == [2], outcomes
        [loser] = [o for o in outcomes if not isinstance(o, int)]
        assert isinstance(loser, DomainError), repr(loser)  # a clean refusal, never a database crash
        assert isinstance(loser, (RuleViolation, Conflict))
    with fresh_session(world) as session:
        fills = session.execute(sa.select(Dispensing.prescription_id, sa.func.count()).group_by(
            Dispensing.prescription_id)).all()
        assert dict(fills) == {p.id: 2 for p in prescriptions}


def test_two_received_texts_at_once_receive_the_package_once(world):
    patient = world.patients[0]
    prescription = prescribe(world.session, patient, world.prescriber)

    def text(sid):
        def run():
            return reply_of(text_in(world.app.test_client(), world.app, patient.phone, "RECEIVED 8", sid=sid))
        return run

    for round_ in range(3):  # a few rounds, each with a new package, to give the race a chance
        package = delivered_package(world.session, world.pharmacists[0], world.settings, prescription)
        replies = race(text(f"SMreceived{round_}a"), text(f"SMreceived{round_}b"))
        assert not [r for r in replies if isinstance(r, BaseException)], replies
        assert sum("We recorded 8 items received" in r for r in replies) == 1, replies
        with fresh_session(world) as session:
            assert inventory.on_hand(session, patient.id) == 8 * (round_ + 1)
            assert session.scalar(sa.select(sa.func.count()).select_from(InventoryMovement)) == round_ + 1
            assert session.get(Shipment, package.id).received_count == 8


def test_one_release_authorization_ships_one_held_package_when_two_ship_at_once(world):
    job = JobContext(world.app)
    for patient in world.patients:
        prescription = prescribe(world.session, patient, world.prescriber)
        fills = [dispense(world.session, world.pharmacists[0], world.settings, prescription) for _ in range(2)]
        escalations.raise_escalation(world.session, Actor.system("test"),
                                     EscalationSettings.from_config(world.app.config), patient_id=patient.id,
                                     reason=Reason.SOS, severity=Severity.URGENT)
        operations.authorize_release(world.session, Actor.for_user(world.prescriber), patient.id,
                                     "Reviewed by phone; patient stable.")
        world.session.commit()

        def ship_by(pharmacist, fill_id):
            def run():
                with job.transaction() as session:
                    return operations.ship(session, Actor.for_user(pharmacist), world.settings, fill_id,
                                           carrier="USPS", tracking_number="9400100000000000000001").id
            return run

        outcomes = race(*(ship_by(pharmacist, fill.id) for pharmacist, fill in zip(world.pharmacists, fills)))
        shipped = [o for o in outcomes if isinstance(o, int)]
        [held] = [o for o in outcomes if not isinstance(o, int)]
        assert len(shipped) == 1, outcomes
        assert isinstance(held, Conflict) and "release" in held.errors, repr(held)
    with fresh_session(world) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Shipment)) == ROUNDS


def test_two_prescribers_authorizing_a_held_release_at_once_authorize_it_once(world):
    job = JobContext(world.app)
    for patient in world.patients:
        escalations.raise_escalation(world.session, Actor.system("test"),
                                     EscalationSettings.from_config(world.app.config), patient_id=patient.id,
                                     reason=Reason.SOS, severity=Severity.URGENT)
        world.session.commit()

        def authorize_by(prescriber, patient_id):
            def run():
                with job.transaction() as session:
                    return operations.authorize_release(session, Actor.for_user(prescriber), patient_id,
                                                        "Reviewed by phone; patient stable.").id
            return run

        outcomes = race(authorize_by(world.prescriber, patient.id), authorize_by(world.backup, patient.id))
        assert len([o for o in outcomes if isinstance(o, int)]) == 1, outcomes
        [refused] = [o for o in outcomes if not isinstance(o, int)]
        assert isinstance(refused, Conflict), repr(refused)
    with fresh_session(world) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ReleaseOverride)) == ROUNDS


def test_two_wrong_codes_texted_at_once_each_use_an_attempt(world):
    settings = SitterSettings.from_config(world.app.config)
    phones = []
    for n, patient in enumerate(world.patients):
        with fresh_session(world) as session:
            sitter = sitters.register_sitter(session, Actor.for_user(world.prescriber),
                                             world.app.extensions["account_policy"], settings, patient.id,
                                             full_name="Hal Sitter", phone=f"+1201555{180 + n:04d}",
                                             relationship_to_patient="brother")
            session.commit()
            phones.append((sitter.id, sitter.phone))

    def text(phone, sid):
        def run():
            return reply_of(text_in(world.app.test_client(), world.app, phone, "000000", sid=sid))
        return run

    for sitter_id, phone in phones:
        replies = race(text(phone, f"SMcode{sitter_id}a"), text(phone, f"SMcode{sitter_id}b"))
        assert replies == [f"Lakeside Clinic: {sitters.CODE_WRONG}"] * 2, replies
        with fresh_session(world) as session:
            assert session.get(Sitter, sitter_id).verification_attempts == 2
