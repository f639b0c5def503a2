"""Reconciliation per prescription and per lot: exact figures over a small world with known
movements (tests/integration/compliance_world.py), each filter, and agreement with the on-hand
arithmetic the dispensing room uses."""
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.compliance import reconciliation
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.reconciliation import Grouping
from telehealth.dispensing import inventory, operations
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dispensing.operations import DispensingSettings
from telehealth.errors import NotAllowed
from telehealth.prescriptions.models import PrescriptionStatus
from tests.integration import compliance_world
from tests.integration.dispensing_world import delivered_package, prescribe

ZONE = ZoneInfo("America/New_York")
FIGURES = ("dispensed", "opening", "received", "taken", "wasted", "returned", "corrected", "expected_on_hand",
           "last_reported_on_hand", "expected_at_report", "discrepancy")


@pytest.fixture
def world(session, make, app, clock):
    return compliance_world.build(session, make, app, clock)


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user(Role.COMPLIANCE))


def figures(session, officer, grouping, filters=ReportFilters(), page=Page()):
    lines = reconciliation.read_page(session, officer, grouping, filters, page, ZONE)
    name = "prescription" if grouping is Grouping.PRESCRIPTION else "lot"
    return {line.values[name]: {k: line.values[k] for k in FIGURES} for line in lines}


def row(dispensed, opening, received, taken, wasted, returned, corrected, expected, reported, at_report, discrepancy):
    return dict(zip(FIGURES, (dispensed, opening, received, taken, wasted, returned, corrected, expected, reported,
                              at_report, discrepancy)))


def test_per_prescription_figures(session, world, officer):
    found = figures(session, officer, Grouping.PRESCRIPTION)
    assert found == {world.rx1.id: row(16, 0, 16, 2, 1, 2, 0, 11, 10, 11, -1),
                     world.rx2.id: row(8, 0, 7, 3, 0, 0, 0, 4, 4, 5, -1)}


def test_per_prescription_names_the_prescription_and_what_was_prescribed(session, world, officer):
    line, = [line for line in reconciliation.read_page(session, officer, Grouping.PRESCRIPTION, ReportFilters(),
                                                       Page(), ZONE) if line.key == world.rx1.id]
    assert line.values["patient"] == "Gale Harper" and line.values["prescriber"] == "Dana Prescriber"
    assert line.values["prescribed"] == 8 * 6  # 8 per fill, the fill and 5 refills


def test_per_lot_figures(session, world, officer):
    found = figures(session, officer, Grouping.LOT)
    # Gale's count covered two lots (A and B): it is tied to neither; Remy held lot A only.
    assert found == {"LOT-A": row(16, 0, 15, 5, 1, 0, 0, 9, 4, 5, -1),
                     "LOT-B": row(8, 0, 8, 0, 0, 2, 0, 6, None, None, None)}


def test_a_count_over_two_lots_is_tied_to_their_one_prescription_but_to_no_lot(session, world, officer):
    lots = {line.values["lot"]: line.values["counts_tied_to_lot"]
            for line in reconciliation.read_page(session, officer, Grouping.LOT, ReportFilters(), Page(), ZONE)}
    assert lots == {"LOT-A": 1, "LOT-B": 0}
    assert figures(session, officer, Grouping.PRESCRIPTION)[world.rx1.id]["last_reported_on_hand"] == 10


def test_the_discrepancy_is_what_the_count_was_compared_with_when_reported(session, world, officer):
    """One fact in one place: the count's audit event recorded what the ledger said then."""
    events = {event.patient_id: event.details for event in session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.INVENTORY_COUNT_REPORTED.value))}
    found = figures(session, officer, Grouping.PRESCRIPTION)
    for patient, rx in ((world.gale, world.rx1), (world.remy, world.rx2)):
        assert found[rx.id]["expected_at_report"] == events[patient.id]["expected"]
        assert found[rx.id]["discrepancy"] == events[patient.id]["count"] - events[patient.id]["expected"]


def test_expected_on_hand_agrees_with_the_dispensing_rooms_on_hand(session, world, officer):
    for patient in (world.gale, world.remy):
        by_lot = inventory.on_hand_by_lot(session, patient.id)
        for lot, left in by_lot.items():
            found = figures(session, officer, Grouping.LOT, ReportFilters(patient_id=patient.id, lot_number=lot))
            assert found[lot]["expected_on_hand"] == left
        by_prescription = figures(session, officer, Grouping.PRESCRIPTION, ReportFilters(patient_id=patient.id))
        assert sum(f["expected_on_hand"] for f in by_prescription.values()) == inventory.on_hand(session, patient.id)


def test_a_date_range_opens_with_what_was_on_hand_before_it(session, world, officer):
    nov_22_23 = ReportFilters(start_on=date(2026, 11, 22), end_on=date(2026, 11, 23))
    assert figures(session, officer, Grouping.PRESCRIPTION, nov_22_23) == {
        world.rx1.id: row(8, 6, 8, 0, 1, 2, 0, 11, 10, 11, -1),
        world.rx2.id: row(0, 5, 0, 0, 0, 0, 0, 5, 4, 5, -1)}


def test_a_range_ending_before_the_counts_reports_none(session, world, officer):
    until_nov_22 = ReportFilters(end_on=date(2026, 11, 22))
    assert figures(session, officer, Grouping.PRESCRIPTION, until_nov_22) == {
        world.rx1.id: row(16, 0, 16, 2, 0, 0, 0, 14, None, None, None),
        world.rx2.id: row(8, 0, 7, 2, 0, 0, 0, 5, None, None, None)}


def test_a_range_before_anything_lists_nothing(session, world, officer):
    assert figures(session, officer, Grouping.PRESCRIPTION, ReportFilters(end_on=date(2026, 11, 19))) == {}
    assert figures(session, officer, Grouping.LOT, ReportFilters(end_on=date(2026, 11, 19))) == {}


def test_the_patient_filter(session, world, officer):
    assert figures(session, officer, Grouping.PRESCRIPTION, ReportFilters(patient_id=world.remy.id)) == {
        world.rx2.id: row(8, 0, 7, 3, 0, 0, 0, 4, 4, 5, -1)}
    assert figures(session, officer, Grouping.LOT, ReportFilters(patient_id=world.remy.id)) == {
        "LOT-A": row(8, 0, 7, 3, 0, 0, 0, 4, 4, 5, -1)}


def test_the_prescriber_filter(session, world, officer):
    assert set(figures(session, officer, Grouping.PRESCRIPTION, ReportFilters(prescriber_id=world.dana.id))) \
        == {world.rx1.id}
    assert figures(session, officer, Grouping.LOT, ReportFilters(prescriber_id=world.dana.id)) == {
        "LOT-A": row(8, 0, 8, 2, 1, 0, 0, 5, None, None, None),
        "LOT-B": row(8, 0, 8, 0, 0, 2, 0, 6, None, None, None)}


def test_the_lot_filter(session, world, officer):
    # Per prescription, the flows are the lot's; the count stays the whole holding it was.
    assert figures(session, officer, Grouping.PRESCRIPTION, ReportFilters(lot_number="LOT-B")) == {
        world.rx1.id: row(8, 0, 8, 0, 0, 2, 0, 6, 10, 11, -1)}
    assert set(figures(session, officer, Grouping.LOT, ReportFilters(lot_number="LOT-B"))) == {"LOT-B"}


def test_pages_follow_each_other_by_key(session, world, officer):
    first = reconciliation.read_page(session, officer, Grouping.LOT, ReportFilters(), Page(size=1), ZONE)
    second = reconciliation.read_page(session, officer, Grouping.LOT, ReportFilters(), Page(after=first[-1].key,
                                                                                             size=1), ZONE)
    third = reconciliation.read_page(session, officer, Grouping.LOT, ReportFilters(), Page(after=second[-1].key,
                                                                                            size=1), ZONE)
    assert [first[0].values["lot"], second[0].values["lot"], third] == ["LOT-A", "LOT-B", []]


def test_the_export_has_the_pages_lines(session, world, officer):
    for grouping in Grouping:
        paged = [tuple(line.values.get(name) for name in reconciliation.HEADER[grouping])
                 for line in reconciliation.read_page(session, officer, grouping, ReportFilters(), Page(), ZONE)]
        assert list(reconciliation.export(session, officer, grouping, ReportFilters(), ZONE)) == paged


def test_a_correction_moves_expected_on_hand(session, world, officer):
    received = session.scalar(sa.select(InventoryMovement).where(InventoryMovement.patient_id == world.remy.id,
                                                                 InventoryMovement.kind == MovementKind.RECEIVED))
    inventory.correct_entry(session, Actor.for_user(world.pharmacist), world.settings, world.remy.id,
                            corrects_id=received.id, quantity=1, note="The package held 8: miscounted at receipt.")
    session.commit()
    found = figures(session, officer, Grouping.PRESCRIPTION)[world.rx2.id]
    assert (found["corrected"], found["expected_on_hand"]) == (1, 5)
    assert found["expected_on_hand"] == inventory.on_hand(session, world.remy.id)


def test_reading_and_exporting_are_audited_with_the_filters(session, world, officer):
    filters = ReportFilters(start_on=date(2026, 11, 21), patient_id=world.gale.id, lot_number="LOT-A")
    reconciliation.read_page(session, officer, Grouping.LOT, filters, Page(size=10), ZONE)
    # Audited when asked for; the lines then stream, each batch's read ended before it goes out
    # (so the events are read before the stream rolls its reads back).
    lines = reconciliation.export(session, officer, Grouping.PRESCRIPTION, filters, ZONE)
    session.flush()
    read, = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REPORT_READ.value))
    exported, = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REPORT_EXPORTED.value))
    assert read.details == {"report": "reconciliation_by_lot", "page": {"after": None, "size": 10},
                            "filters": {"start_on": "2026-11-21", "patient_id": world.gale.id, "lot_number": "LOT-A"}}
    assert exported.details["report"] == "reconciliation_by_prescription"
    assert read.patient_id == exported.patient_id == world.gale.id
    assert len(list(lines)) == 1


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PRESCRIBER, Role.PHARMACIST])
def test_only_compliance_reads_the_reconciliation(session, make, role):
    with pytest.raises(NotAllowed):
        reconciliation.read_page(session, Actor.for_user(make.user(role)), Grouping.LOT, ReportFilters(), Page(),
                                 ZONE)


# --- a renewal filled from the same lot -----------------------------------------------------------

def renewal_from_the_same_lot(session, make, app, clock, *, late_receipt: bool = False):
    """Rx1 fills 8 from LOT-A, received; two doses; Rx1 completed and a renewal, Rx2, fills 8 more
    from LOT-A, received; one dose. With `late_receipt`, Rx1's package is received only after Rx2
    was dispensed (its receipt still belongs to Rx1, by its shipment)."""
    settings = DispensingSettings.from_config(app.config)
    dana, pharmacist = make.user(Role.PRESCRIBER, name="Dana Prescriber"), make.user(Role.PHARMACIST)
    gale = make.patient(dana)
    system = Actor.system("test")

    def receive(package):
        operations.confirm_receipt(session, Actor.for_user(gale.user), settings, patient_id=gale.id, count=8,
                                   channel="web", shipment_id=package.id)
        session.commit()

    rx1 = prescribe(session, gale, dana)
    first = delivered_package(session, pharmacist, settings, rx1, lot="LOT-A")
    if not late_receipt:
        receive(first)
        clock.advance(timedelta(days=3))
        inventory.record_dose_taken(session, system, gale.id, 1)
        inventory.record_dose_taken(session, system, gale.id, 1)
    clock.advance(timedelta(days=30))
    rx1.status = PrescriptionStatus.COMPLETED
    session.commit()
    rx2 = prescribe(session, gale, dana)
    second = delivered_package(session, pharmacist, settings, rx2, lot="LOT-A")
    if late_receipt:
        receive(first)
    receive(second)
    clock.advance(timedelta(days=3))
    inventory.record_dose_taken(session, system, gale.id, 1)
    session.commit()
    return rx1, rx2


def test_a_renewal_filled_from_the_same_lot_gets_its_own_receipt_and_the_doses_after_its_fill(
        session, make, app, clock, officer):
    rx1, rx2 = renewal_from_the_same_lot(session, make, app, clock)
    got = figures(session, officer, Grouping.PRESCRIPTION)
    assert {rx: (f["dispensed"], f["received"], f["taken"], f["expected_on_hand"]) for rx, f in got.items()} == {
        rx1.id: (8, 8, 2, 6), rx2.id: (8, 8, 1, 7)}
    lot = figures(session, officer, Grouping.LOT)["LOT-A"]
    assert (lot["dispensed"], lot["received"], lot["taken"], lot["expected_on_hand"]) == (16, 16, 3, 13)


def test_a_receipt_belongs_to_its_shipments_prescription_even_after_the_renewal_was_filled(
        session, make, app, clock, officer):
    rx1, rx2 = renewal_from_the_same_lot(session, make, app, clock, late_receipt=True)
    got = figures(session, officer, Grouping.PRESCRIPTION)
    assert {rx: (f["received"], f["taken"]) for rx, f in got.items()} == {rx1.id: (8, 0), rx2.id: (8, 1)}
