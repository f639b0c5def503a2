"""The dispensing room through the database (SPEC §3 step 4–5, §5, §8): who dispenses, Schedule III
limits, the patient's receipt and its count, overdue receipts, packages lost in transit and the
pharmacy's DEA filings, staged release, the inventory ledger and the pharmacist's queue."""
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.dispensing import inventory, operations
from telehealth.dispensing.jobs import escalate_overdue_receipts
from telehealth.dispensing.models import InventoryMovement, MovementKind, Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.errors import Conflict, NotAllowed, RuleViolation
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity, State
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message
from telehealth.prescriptions.models import PrescriptionStatus
from tests.integration.dispensing_world import a_year_on, delivered_package, dispense, prescribe, row_counts, ship

SYSTEM = Actor.system("test")


@pytest.fixture
def settings(app):
    return DispensingSettings.from_config(app.config)


@pytest.fixture
def team(make, session):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    pharmacist = make.user(Role.PHARMACIST, name="Ira Pharmacist")
    officer = make.user(Role.COMPLIANCE, name="Cory Compliance", phone=make.phone())
    patient = make.patient(prescriber, name="Gale Harper")
    return SimpleNamespace(prescriber=prescriber, pharmacist=pharmacist, officer=officer, patient=patient)


@pytest.fixture
def prescription(session, team):
    return prescribe(session, team.patient, team.prescriber)


@pytest.fixture
def job(app, connection):
    with app.app_context():
        yield JobContext(app)


def as_(user) -> Actor:
    return Actor.for_user(user)


def audit(session, action: AuditAction) -> list[AuditEvent]:
    session.flush()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)
                                .order_by(AuditEvent.id)))


def escalations_of(session, reason: Reason) -> list[Escalation]:
    session.expire_all()
    return list(session.scalars(sa.select(Escalation).where(Escalation.reason == reason).order_by(Escalation.id)))


def pages(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(Message.to_phone).where(Message.owner_type == "escalation")
                                .order_by(Message.id)))


def confirm(session, settings, patient, count, shipment_id=None):
    shipment = operations.confirm_receipt(session, as_(patient.user), settings, patient_id=patient.id, count=count,
                                          channel="web", shipment_id=shipment_id)
    session.commit()
    return shipment


def open_alert(app, session, patient, reason=Reason.SOS, severity=Severity.URGENT) -> Escalation:
    escalation = escalations.raise_escalation(session, SYSTEM, EscalationSettings.from_config(app.config),
                                              patient_id=patient.id, reason=reason, severity=severity)
    session.commit()
    return escalation


# --- who dispenses -----------------------------------------------------------------------

def test_a_pharmacist_dispenses_a_fill_recording_lot_expiry_pharmacist_and_time(session, settings, team,
                                                                                 prescription, clock):
    fill = operations.dispense(session, as_(team.pharmacist), settings, prescription.id, quantity=8,
                               lot_number=" lot-2026a ", lot_expiry=a_year_on())
    session.commit()
    assert (fill.fill_number, fill.quantity, fill.lot_number, fill.lot_expiry) == (1, 8, "LOT-2026A", a_year_on())
    assert fill.pharmacist_id == team.pharmacist.id and fill.dispensed_at == clock.now()
    [event] = audit(session, AuditAction.DISPENSED)
    assert event.actor_user_id == team.pharmacist.id and event.patient_id == team.patient.id
    assert event.details["lot_number"] == "LOT-2026A" and event.details["quantity"] == 8


def test_the_prescriber_of_a_prescription_cannot_dispense_it(session, settings, team, prescription):
    before = row_counts(session)
    with pytest.raises(NotAllowed, match="Segregation of duties"):
        dispense(session, team.prescriber, settings, prescription)
    assert row_counts(session) == before


def test_a_pharmacist_who_is_the_prescriber_of_record_still_cannot_dispense_it(session, settings, team):
    # Segregation of duties holds whatever the role: the person who prescribed never dispenses.
    own = prescribe(session, team.patient, team.pharmacist)
    before = row_counts(session)
    with pytest.raises(NotAllowed, match="Segregation of duties"):
        dispense(session, team.pharmacist, settings, own)
    assert row_counts(session) == before


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.COMPLIANCE, Role.ADMIN])
def test_staff_who_are_not_pharmacists_cannot_dispense(session, settings, make, prescription, role):
    someone = make.user(role)
    before = row_counts(session)
    with pytest.raises(NotAllowed, match="Only pharmacists dispense"):
        dispense(session, someone, settings, prescription)
    assert row_counts(session) == before


def test_a_patient_cannot_dispense_their_own_prescription(session, settings, team, prescription):
    with pytest.raises(NotAllowed):
        dispense(session, team.patient.user, settings, prescription)
    assert row_counts(session)["dispensings"] == 0


# --- Schedule III limits -----------------------------------------------------------------

def test_the_fifth_refill_is_dispensed_and_a_sixth_is_refused_writing_nothing(session, settings, team,
                                                                              prescription):
    fills = [dispense(session, team.pharmacist, settings, prescription) for _ in range(6)]  # original + 5 refills
    assert [fill.fill_number for fill in fills] == [1, 2, 3, 4, 5, 6]
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        dispense(session, team.pharmacist, settings, prescription)
    assert refused.value.errors["prescription"] == ["No refills left: 5 refill(s) allowed and 5 already dispensed."]
    assert row_counts(session) == before


def test_a_fill_on_day_181_after_issue_is_allowed(session, settings, team, prescription, clock):
    clock.advance(days=181)
    assert dispense(session, team.pharmacist, settings, prescription).fill_number == 1


def test_a_fill_on_day_182_after_issue_is_refused_writing_nothing(session, settings, team, prescription, clock):
    clock.advance(days=182)
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        dispense(session, team.pharmacist, settings, prescription)
    assert "Issued 182 days ago" in refused.value.errors["prescription"][0]
    assert row_counts(session) == before


def test_a_lot_that_expires_today_is_refused_writing_nothing(session, settings, team, prescription, clock):
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        dispense(session, team.pharmacist, settings, prescription, expiry=clock.now().date())
    assert list(refused.value.errors) == ["lot_expiry"]
    assert row_counts(session) == before


def test_a_lot_that_expires_tomorrow_is_dispensed(session, settings, team, prescription, clock):
    fill = dispense(session, team.pharmacist, settings, prescription, expiry=clock.now().date() + timedelta(days=1))
    assert fill.id is not None


def test_a_suspended_prescription_is_not_filled(session, settings, team, prescription):
    prescription.status = PrescriptionStatus.SUSPENDED
    session.commit()
    with pytest.raises(RuleViolation) as refused:
        dispense(session, team.pharmacist, settings, prescription)
    assert "not active" in refused.value.errors["prescription"][0]


def test_a_fill_larger_than_the_prescribed_quantity_is_refused(session, settings, team, prescription):
    with pytest.raises(RuleViolation) as refused:
        dispense(session, team.pharmacist, settings, prescription, quantity=9)
    assert list(refused.value.errors) == ["quantity"]


# --- the patient's receipt ---------------------------------------------------------------

def test_shipping_and_delivery_each_text_the_patient_to_count_the_package(session, settings, team, prescription):
    delivered_package(session, team.pharmacist, settings, prescription)
    texts = list(session.scalars(sa.select(Message).where(Message.owner_type == "shipment").order_by(Message.id)))
    assert [(m.to_phone, m.template) for m in texts] == [(team.patient.phone, "package_shipped"),
                                                          (team.patient.phone, "package_delivered")]
    assert all("RECEIVED 8" in m.body for m in texts)


def test_a_matching_count_puts_the_count_on_hand_and_raises_nothing(session, settings, team, prescription, clock):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    confirm(session, settings, team.patient, 8)
    session.expire_all()
    shipment = session.get(Shipment, package.id)
    assert (shipment.state, shipment.received_count, shipment.received_via) == ("received", 8, "web")
    assert shipment.received_at == clock.now()
    assert inventory.on_hand_by_lot(session, team.patient.id) == {"LOT-A1": 8}
    [movement] = session.scalars(sa.select(InventoryMovement))
    assert (movement.kind, movement.quantity, movement.shipment_id) == (MovementKind.RECEIVED, 8, package.id)
    assert escalations_of(session, Reason.RECEIPT_DISCREPANCY) == [] and pages(session) == []
    [event] = audit(session, AuditAction.SHIPMENT_RECEIVED)
    assert event.details["count"] == 8 and event.details["shipped"] == 8


def test_a_count_that_differs_raises_a_compliance_escalation_paged_to_compliance_not_the_prescriber(
        session, settings, team, prescription):
    delivered_package(session, team.pharmacist, settings, prescription)
    confirm(session, settings, team.patient, 7)
    assert inventory.on_hand(session, team.patient.id) == 7  # the ledger holds what was found
    [escalation] = escalations_of(session, Reason.RECEIPT_DISCREPANCY)
    assert escalation.is_compliance and escalation.state is State.OPEN
    assert escalation.patient_id == team.patient.id
    assert pages(session) == [team.officer.phone]
    assert team.prescriber.phone not in pages(session)


def test_a_patient_cannot_confirm_someone_elses_package_and_nothing_is_written(session, settings, team, make,
                                                                               prescription):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    stranger = make.patient(team.prescriber)
    before = row_counts(session)
    with pytest.raises(NotAllowed) as refused:
        confirm(session, settings, stranger, 8, shipment_id=package.id)
    assert refused.value.hide_existence
    with pytest.raises(NotAllowed) as refused:  # nor by naming the other patient
        operations.confirm_receipt(session, as_(stranger.user), settings, patient_id=team.patient.id, count=8,
                                   channel="web")
    assert refused.value.hide_existence
    assert row_counts(session) == before
    assert session.get(Shipment, package.id).state == "delivered"


def test_staff_cannot_confirm_a_patients_receipt_for_them(session, settings, team, prescription):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    with pytest.raises(NotAllowed):
        operations.confirm_receipt(session, as_(team.pharmacist), settings, patient_id=team.patient.id, count=8,
                                   channel="web", shipment_id=package.id)
    assert session.get(Shipment, package.id).received_at is None


@pytest.mark.parametrize("count", [-1, 501, 10 ** 6, True, "8"])
def test_an_implausible_count_is_refused_and_nothing_is_written(session, settings, team, prescription, count):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        confirm(session, settings, team.patient, count)
    assert list(refused.value.errors) == ["count"]
    assert row_counts(session) == before
    assert session.get(Shipment, package.id).received_at is None


def test_a_package_is_received_once(session, settings, team, prescription):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    confirm(session, settings, team.patient, 8)
    with pytest.raises(Conflict):
        confirm(session, settings, team.patient, 8, shipment_id=package.id)
    assert inventory.on_hand(session, team.patient.id) == 8


def test_without_a_package_named_the_oldest_one_waiting_is_confirmed(session, settings, team, prescription, clock):
    first = delivered_package(session, team.pharmacist, settings, prescription, lot="LOT-OLD")
    clock.advance(days=1)
    second = delivered_package(session, team.pharmacist, settings, prescription, lot="LOT-NEW")
    assert confirm(session, settings, team.patient, 8).id == first.id
    assert session.get(Shipment, second.id).received_at is None


def test_with_no_package_waiting_a_count_is_refused(session, settings, team, prescription):
    with pytest.raises(Conflict, match="no package waiting"):
        confirm(session, settings, team.patient, 8)


# --- overdue receipts --------------------------------------------------------------------

def test_the_sweep_escalates_an_unconfirmed_package_exactly_three_days_after_delivery(
        session, settings, team, prescription, job, clock):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    delivered_at = package.delivered_at
    clock.set(delivered_at + timedelta(days=3) - timedelta(seconds=1))
    assert escalate_overdue_receipts(job) == {}
    assert escalations_of(session, Reason.RECEIPT_OVERDUE) == []
    clock.set(delivered_at + timedelta(days=3))
    assert escalate_overdue_receipts(job) == {"overdue receipts": 1}
    [escalation] = escalations_of(session, Reason.RECEIPT_OVERDUE)
    assert escalation.is_compliance and escalation.patient_id == team.patient.id
    assert pages(session) == [team.officer.phone]
    assert session.get(Shipment, package.id).receipt_overdue_at == clock.now()


def test_an_overdue_package_is_escalated_once_across_sweeps(session, settings, team, prescription, job, clock):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    clock.set(package.delivered_at + timedelta(days=3))
    assert escalate_overdue_receipts(job) == {"overdue receipts": 1}
    clock.advance(minutes=5)
    assert escalate_overdue_receipts(job) == {}
    [escalation] = escalations_of(session, Reason.RECEIPT_OVERDUE)
    assert escalation.trigger_count == 1
    # Not again once compliance has dealt with it, however long the package stays unconfirmed.
    escalations.resolve(session, as_(team.officer), escalation.id, outcome="reached_patient",
                        note="Patient will count tonight.", channel="web")
    session.commit()
    clock.advance(days=7)
    assert escalate_overdue_receipts(job) == {}
    assert len(escalations_of(session, Reason.RECEIPT_OVERDUE)) == 1


def test_a_confirmed_package_is_never_overdue(session, settings, team, prescription, job, clock):
    delivered_package(session, team.pharmacist, settings, prescription)
    confirm(session, settings, team.patient, 8)
    clock.advance(days=10)
    assert escalate_overdue_receipts(job) == {}


def test_a_package_reported_lost_is_never_overdue(session, settings, team, prescription, job, clock):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    operations.report_lost(session, as_(team.pharmacist), settings, package.id, "Never reached the door.")
    session.commit()
    clock.advance(days=10)
    assert escalate_overdue_receipts(job) == {}
    assert escalations_of(session, Reason.RECEIPT_OVERDUE) == []


def test_a_package_in_transit_is_never_overdue(session, settings, team, prescription, job, clock):
    ship(session, team.pharmacist, settings, dispense(session, team.pharmacist, settings, prescription))
    clock.advance(days=10)
    assert escalate_overdue_receipts(job) == {}


# --- lost in transit ---------------------------------------------------------------------

def report_lost(session, settings, actor_user, shipment) -> Shipment:
    shipment = operations.report_lost(session, as_(actor_user), settings, shipment.id,
                                      note="Carrier shows delivered; patient found no package.")
    session.commit()
    return shipment


def test_a_lost_package_raises_an_urgent_compliance_escalation_paged_to_compliance(session, settings, team,
                                                                                   prescription):
    package = report_lost(session, settings, team.pharmacist,
                          delivered_package(session, team.pharmacist, settings, prescription))
    assert package.state == "lost"
    [escalation] = escalations_of(session, Reason.SHIPMENT_LOST)
    assert escalation.severity is Severity.URGENT and escalation.is_compliance
    assert package.lost_escalation_id == escalation.id
    assert pages(session) == [team.officer.phone]


def test_a_lost_package_escalation_cannot_be_resolved_until_both_dea_filings_are_recorded(
        session, settings, team, prescription, clock):
    package = report_lost(session, settings, team.pharmacist,
                          delivered_package(session, team.pharmacist, settings, prescription))
    officer = as_(team.officer)

    def resolve():
        escalation = escalations.resolve(session, officer, package.lost_escalation_id, outcome="other",
                                         note="DEA notified; Form 106 filed.", channel="web")
        session.commit()
        return escalation

    with pytest.raises(RuleViolation, match="the DEA notice date and the Form 106 filing"):
        resolve()
    operations.record_loss_filings(session, as_(team.pharmacist), package.id, dea_notice_on=clock.now().date())
    session.commit()
    with pytest.raises(RuleViolation, match="Record the Form 106 filing for shipment"):
        resolve()
    assert session.get(Escalation, package.lost_escalation_id).state is State.OPEN
    clock.advance(days=20)
    operations.record_loss_filings(session, officer, package.id, form_106_filed_on=clock.now().date(),
                                   form_106_number="tl-2026-0042")
    session.commit()
    assert resolve().state is State.RESOLVED
    shipment = session.get(Shipment, package.id)
    assert shipment.form_106_number == "TL-2026-0042"
    assert len(audit(session, AuditAction.SHIPMENT_LOSS_FILED)) == 2


@pytest.mark.parametrize("field", ["dea_notice_on", "form_106_filed_on"])
@pytest.mark.parametrize("days_from_today", [1, -1])
def test_a_filing_dated_in_the_future_or_before_the_loss_is_refused(session, settings, team, prescription, clock,
                                                                     field, days_from_today):
    package = report_lost(session, settings, team.pharmacist,
                          delivered_package(session, team.pharmacist, settings, prescription))
    filing = {field: clock.now().date() + timedelta(days=days_from_today)}  # the loss was reported today
    if field == "form_106_filed_on":
        filing["form_106_number"] = "TL-1"
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        operations.record_loss_filings(session, as_(team.pharmacist), package.id, **filing)
    assert field in refused.value.errors
    assert row_counts(session) == before
    shipment = session.get(Shipment, package.id)
    assert shipment.dea_notice_on is None and shipment.form_106_filed_on is None


def test_a_filing_dated_the_day_of_the_loss_is_accepted(session, settings, team, prescription, clock):
    package = report_lost(session, settings, team.pharmacist,
                          delivered_package(session, team.pharmacist, settings, prescription))
    clock.advance(days=2)
    operations.record_loss_filings(session, as_(team.pharmacist), package.id,
                                   dea_notice_on=(clock.now() - timedelta(days=2)).date())
    assert session.get(Shipment, package.id).dea_notice_on == (clock.now() - timedelta(days=2)).date()


def test_a_received_package_cannot_be_reported_lost(session, settings, team, prescription):
    package = delivered_package(session, team.pharmacist, settings, prescription)
    confirm(session, settings, team.patient, 8)
    with pytest.raises(Conflict):
        report_lost(session, settings, team.pharmacist, package)
    assert escalations_of(session, Reason.SHIPMENT_LOST) == []


# --- staged release ----------------------------------------------------------------------

def test_an_open_escalation_holds_the_next_shipment(app, session, settings, team, prescription):
    alert = open_alert(app, session, team.patient)
    fill = dispense(session, team.pharmacist, settings, prescription)
    with pytest.raises(Conflict) as held:
        ship(session, team.pharmacist, settings, fill)
    assert held.value.errors["release"] == [f"alert {alert.id} (SOS received) is not resolved"]
    assert row_counts(session)["shipments"] == 0
    assert operations.release_blockers(session, team.patient.id) == held.value.errors["release"]


def test_a_resolved_escalation_no_longer_holds_the_next_shipment(app, session, settings, team, prescription):
    alert = open_alert(app, session, team.patient)
    escalations.resolve(session, as_(team.prescriber), alert.id, outcome="reached_patient", note="Fine.",
                        channel="web")
    session.commit()
    assert ship(session, team.pharmacist, settings, dispense(session, team.pharmacist, settings,
                                                             prescription)).release_override_id is None


def test_another_patients_escalation_does_not_hold_this_patients_shipment(app, session, settings, team, make,
                                                                          prescription):
    open_alert(app, session, make.patient(team.prescriber))
    assert ship(session, team.pharmacist, settings, dispense(session, team.pharmacist, settings, prescription))


def test_a_prescribers_authorization_lets_exactly_one_held_shipment_through(app, session, settings, team,
                                                                            prescription):
    alert = open_alert(app, session, team.patient)
    first = dispense(session, team.pharmacist, settings, prescription)
    second = dispense(session, team.pharmacist, settings, prescription)
    override = operations.authorize_release(session, as_(team.prescriber), team.patient.id,
                                            "Alert reviewed by phone; patient stable.")
    session.commit()
    shipment = ship(session, team.pharmacist, settings, first)
    assert shipment.release_override_id == override.id
    assert override.authorized_by_id == team.prescriber.id
    assert override.blockers == [f"alert {alert.id} (SOS received) is not resolved"]
    [event] = audit(session, AuditAction.RELEASE_AUTHORIZED)
    assert event.actor_user_id == team.prescriber.id and event.patient_id == team.patient.id
    with pytest.raises(Conflict) as held:
        ship(session, team.pharmacist, settings, second)
    assert "release" in held.value.errors
    assert row_counts(session)["shipments"] == 1


def test_no_authorization_is_taken_when_nothing_holds_the_shipment(session, settings, team, prescription):
    with pytest.raises(Conflict, match="no authorization is needed"):
        operations.authorize_release(session, as_(team.prescriber), team.patient.id, "Just in case.")
    assert row_counts(session)["release_overrides"] == 0


def test_an_authorization_needs_a_reason(app, session, settings, team, prescription):
    open_alert(app, session, team.patient)
    with pytest.raises(RuleViolation) as refused:
        operations.authorize_release(session, as_(team.prescriber), team.patient.id, "   ")
    assert list(refused.value.errors) == ["reason"]


def test_only_a_prescriber_of_the_patient_authorizes_a_held_release(app, session, settings, team, make,
                                                                    prescription):
    open_alert(app, session, team.patient)
    for someone in (team.pharmacist, team.officer, make.user(Role.PRESCRIBER), team.patient.user):
        with pytest.raises(NotAllowed):
            operations.authorize_release(session, as_(someone), team.patient.id, "Ship it.")
    assert row_counts(session)["release_overrides"] == 0


# --- the inventory ledger ----------------------------------------------------------------

def receive(session, settings, team, prescription, *, lot, expiry, quantity) -> Shipment:
    package = delivered_package(session, team.pharmacist, settings, prescription, lot=lot, expiry=expiry,
                                quantity=quantity)
    return confirm(session, settings, team.patient, quantity, shipment_id=package.id)


def test_on_hand_is_received_less_doses_taken_wasted_and_returned(session, settings, team, prescription, clock):
    today = clock.now().date()
    # Seven from a lot expiring in a year, then one from a lot expiring in two months. The names
    # and the order of arrival both point the wrong way: only the expiry says which goes first.
    receive(session, settings, team, prescription, lot="A-LATE", expiry=today + timedelta(days=365), quantity=7)
    receive(session, settings, team, prescription, lot="Z-SOON", expiry=today + timedelta(days=60), quantity=1)
    taken = inventory.record_dose_taken(session, SYSTEM, team.patient.id, 2)
    assert [(m.lot_number, m.quantity) for m in taken] == [("Z-SOON", -1), ("A-LATE", -1)]
    inventory.record_waste(session, as_(team.patient.user), team.patient.id, lot_number="a-late", quantity=1,
                           witness_name="Sam Witness")
    inventory.record_return(session, as_(team.pharmacist), team.patient.id, lot_number="A-LATE", quantity=1)
    session.commit()
    assert inventory.on_hand_by_lot(session, team.patient.id) == {"A-LATE": 4, "Z-SOON": 0}
    assert inventory.on_hand(session, team.patient.id) == 4
    kinds = [m.kind for m in inventory.ledger(session, as_(team.pharmacist), team.patient.id)]
    assert kinds == [MovementKind.RETURNED, MovementKind.WASTED, MovementKind.DOSE_TAKEN, MovementKind.DOSE_TAKEN,
                     MovementKind.RECEIVED, MovementKind.RECEIVED]
    wasted = session.scalar(sa.select(InventoryMovement).where(InventoryMovement.kind == MovementKind.WASTED))
    assert wasted.witness_name == "Sam Witness"


def test_a_dose_is_taken_from_a_single_lot_when_the_soonest_to_expire_holds_enough(session, settings, team,
                                                                                   prescription, clock):
    today = clock.now().date()
    receive(session, settings, team, prescription, lot="A-LATE", expiry=today + timedelta(days=365), quantity=8)
    receive(session, settings, team, prescription, lot="Z-SOON", expiry=today + timedelta(days=60), quantity=8)
    taken = inventory.record_dose_taken(session, SYSTEM, team.patient.id, 2)
    assert [(m.lot_number, m.quantity) for m in taken] == [("Z-SOON", -2)]


def test_a_dose_larger_than_what_is_on_hand_is_refused(session, settings, team, prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=1)
    before = row_counts(session)
    with pytest.raises(RuleViolation):
        inventory.record_dose_taken(session, SYSTEM, team.patient.id, 2)
    assert row_counts(session) == before


def test_waste_without_a_witness_is_refused_and_nothing_is_written(session, settings, team, prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=8)
    before = row_counts(session)
    with pytest.raises(RuleViolation) as refused:
        inventory.record_waste(session, as_(team.patient.user), team.patient.id, lot_number="LOT-A1", quantity=1,
                               witness_name="  ")
    assert list(refused.value.errors) == ["witness_name"]
    assert row_counts(session) == before
    assert inventory.on_hand(session, team.patient.id) == 8


def test_more_cannot_be_wasted_or_returned_than_the_lot_holds(session, settings, team, prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=2)
    with pytest.raises(RuleViolation) as refused:
        inventory.record_return(session, as_(team.pharmacist), team.patient.id, lot_number="LOT-A1", quantity=3)
    assert refused.value.errors == {"quantity": ["Only 2 on hand in this lot."]}
    with pytest.raises(RuleViolation) as refused:
        inventory.record_waste(session, as_(team.pharmacist), team.patient.id, lot_number="LOT-B9", quantity=1,
                               witness_name="Sam Witness")
    assert list(refused.value.errors) == ["lot_number"]
    assert inventory.on_hand(session, team.patient.id) == 2


def test_nothing_on_the_ledger_is_nothing_on_hand(session, team):
    assert inventory.on_hand(session, team.patient.id) == 0
    assert inventory.on_hand_by_lot(session, team.patient.id) == {}


def test_a_reported_count_equal_to_the_ledger_raises_nothing(session, settings, team, prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=8)
    inventory.report_count(session, as_(team.patient.user), settings, team.patient.id, 8, channel="web")
    session.commit()
    assert escalations_of(session, Reason.INVENTORY_DISCREPANCY) == []
    assert inventory.on_hand(session, team.patient.id) == 8


def test_a_reported_count_that_differs_raises_a_low_discrepancy_on_the_dashboard_only(session, settings, team,
                                                                                      prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=8)
    movement = inventory.report_count(session, as_(team.patient.user), settings, team.patient.id, 6, channel="web")
    session.commit()
    [escalation] = escalations_of(session, Reason.INVENTORY_DISCREPANCY)
    assert escalation.severity is Severity.LOW and escalation.is_compliance
    assert escalation.next_page_at is None and pages(session) == []
    assert (movement.kind, movement.quantity, movement.reported_count) == (MovementKind.COUNT_REPORTED, 0, 6)
    assert inventory.on_hand(session, team.patient.id) == 8  # a count moves nothing


def test_a_compliance_officer_cannot_change_a_patients_inventory(session, settings, team, prescription):
    receive(session, settings, team, prescription, lot="LOT-A1", expiry=a_year_on(), quantity=8)
    with pytest.raises(NotAllowed):
        inventory.record_return(session, as_(team.officer), team.patient.id, lot_number="LOT-A1", quantity=1)
    assert inventory.on_hand(session, team.patient.id) == 8


# --- the pharmacist's queue --------------------------------------------------------------

def test_the_pharmacy_queue_lists_fillable_prescriptions_and_unshipped_fills_with_their_blockers(
        app, session, settings, team, make, prescription, clock):
    held_patient = make.patient(team.prescriber)
    held = prescribe(session, held_patient, team.prescriber)
    waiting = dispense(session, team.pharmacist, settings, held)
    alert = open_alert(app, session, held_patient)
    done = prescribe(session, make.patient(team.prescriber), team.prescriber, refills=0)
    ship(session, team.pharmacist, settings, dispense(session, team.pharmacist, settings, done))
    prescribe(session, make.patient(team.prescriber), team.prescriber,
              issued_on=clock.now().date() - timedelta(days=182))  # past the Schedule III window
    prescribe(session, make.patient(team.prescriber), team.prescriber,
              issued_on=clock.now().date() - timedelta(days=90), expires_on=clock.now().date())  # expires today
    prescribe(session, make.patient(team.prescriber), team.prescriber, status=PrescriptionStatus.CANCELLED)

    queue = {item.prescription.id: item for item in operations.pharmacy_queue(session, as_(team.pharmacist),
                                                                             settings)}
    session.commit()
    assert set(queue) == {prescription.id, held.id}
    assert (queue[prescription.id].fills_used, queue[prescription.id].fills_left) == (0, 6)
    assert queue[prescription.id].unshipped == [] and queue[prescription.id].blockers == []
    assert [fill.id for fill in queue[held.id].unshipped] == [waiting.id]
    assert queue[held.id].blockers == [f"alert {alert.id} (SOS received) is not resolved"]
    [event] = audit(session, AuditAction.PHARMACY_QUEUE_READ)
    assert event.actor_user_id == team.pharmacist.id
    assert sorted(event.details["prescription_ids"]) == sorted(queue)


def test_a_prescription_whose_last_fill_is_unshipped_stays_in_the_queue(session, settings, team, make):
    last = prescribe(session, team.patient, team.prescriber, refills=0)
    fill = dispense(session, team.pharmacist, settings, last)
    [item] = operations.pharmacy_queue(session, as_(team.pharmacist), settings)
    assert item.fills_left == 0 and item.unshipped == [fill]


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.COMPLIANCE, Role.ADMIN])
def test_the_pharmacy_queue_is_for_pharmacists_only(session, settings, make, role):
    with pytest.raises(NotAllowed):
        operations.pharmacy_queue(session, as_(make.user(role)), settings)
    assert audit(session, AuditAction.PHARMACY_QUEUE_READ) == []
