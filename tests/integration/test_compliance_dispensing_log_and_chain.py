"""The dispensing log's fields and filters, and the audit chain's state and verification as the
compliance dashboard reads them."""
from datetime import date
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.compliance import chain_state, dispensing_log
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.db import database
from tests.integration import compliance_world
from tests.integration.test_audit_chain import add_events, seal_all, tamper

ZONE = ZoneInfo("America/New_York")


@pytest.fixture
def world(session, make, app, clock):
    return compliance_world.build(session, make, app, clock)


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user(Role.COMPLIANCE))


def log(session, officer, filters=ReportFilters(), page=Page()):
    return dispensing_log.read_page(session, officer, filters, page, ZONE)


def test_a_fill_carries_every_field_of_a_dea_dispensing_record_and_its_lot(session, world, officer):
    first = log(session, officer)[0]
    assert first.cells == (first.dispensing_id, date(2026, 11, 20), "2026-11-20T15:00:00Z", "Gale Harper",
                           f"{world.gale.address_line1}, Springfield, IL 62701", "ketamine hydrochloride", 100,
                           "sublingual rapid-dissolve tablet", 8, "Dana Prescriber", "AB1234563", "Ira Pharmacist",
                           "LOT-A", first.lot_expiry, 1, world.rx1.id)


def test_each_filter(session, world, officer):
    def fills(**filters):
        return [(e.patient, e.lot_number, e.fill_number) for e in log(session, officer, ReportFilters(**filters))]
    assert fills() == [("Gale Harper", "LOT-A", 1), ("Remy Stone", "LOT-A", 1), ("Gale Harper", "LOT-B", 2)]
    assert fills(start_on=date(2026, 11, 21)) == [("Gale Harper", "LOT-B", 2)]
    assert fills(end_on=date(2026, 11, 21)) == [("Gale Harper", "LOT-A", 1), ("Remy Stone", "LOT-A", 1)]
    assert fills(prescriber_id=world.bell.id) == [("Remy Stone", "LOT-A", 1)]
    assert fills(patient_id=world.gale.id) == [("Gale Harper", "LOT-A", 1), ("Gale Harper", "LOT-B", 2)]
    assert fills(lot_number="LOT-B") == [("Gale Harper", "LOT-B", 2)]


def test_pages_follow_each_other_and_the_export_has_every_line(session, world, officer):
    first = log(session, officer, page=Page(size=2))
    rest = log(session, officer, page=Page(after=first[-1].dispensing_id, size=2))
    assert len(first) == 2 and len(rest) == 1
    exported = list(dispensing_log.export(session, officer, ReportFilters(), ZONE))
    assert exported == [entry.cells for entry in first + rest]


# The chain seals committed events only: these tests commit, on a database of their own.
OFFICER = Actor(user_id=None, role="compliance", label="test compliance")


def test_the_chain_state_counts_sealed_and_waiting_events(committed_app, clock):
    ids = add_events(committed_app, 5)
    seal_all(committed_app)
    later = add_events(committed_app, 2)
    with database(committed_app).new_session() as session:
        state = chain_state.state(session, OFFICER)
        session.commit()
    assert (state.sealed, state.head_event_id, state.head_event_at) == (5, ids[-1], clock.now())
    assert (state.waiting, state.oldest_waiting_at) == (len(later), clock.now())


def test_verifying_a_sound_chain_says_so_and_is_audited(committed_app, clock):
    add_events(committed_app, 4)
    seal_all(committed_app)
    with database(committed_app).new_session() as session:
        report = chain_state.verify(session, OFFICER)
        session.commit()
        assert report.ok and report.sealed == 4
        event, = session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == AuditAction.AUDIT_CHAIN_VERIFIED.value))
    assert event.details["ok"] is True and event.details["sealed"] == 4 and event.details["first_problem"] is None


def test_verifying_names_an_event_edited_in_the_database(committed_app, clock):
    ids = add_events(committed_app, 4)
    seal_all(committed_app)
    tamper(committed_app, ("UPDATE audit_events SET actor_label = 'someone else' WHERE id = :id", {"id": ids[1]}))
    with database(committed_app).new_session() as session:
        report = chain_state.verify(session, OFFICER)
        session.commit()
        event, = session.scalars(sa.select(AuditEvent).where(
            AuditEvent.action == AuditAction.AUDIT_CHAIN_VERIFIED.value))
    assert not report.ok and f"event {ids[1]} (seal #2)" in report.problems[0]
    assert event.details["ok"] is False and f"event {ids[1]} (seal #2)" in event.details["first_problem"]
