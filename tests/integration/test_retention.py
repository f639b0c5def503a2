"""SPEC §8 retention, enforced by PostgreSQL itself (migration 0007): dispensing, ledger, release,
check-in and escalation-timeline rows are append-only; shipments and escalations are never
deleted and keep their facts, while the lifecycle the application fills in later still works.

The refusals are tried with raw SQL, as someone with database access would. That no application
path deletes or rewrites these rows is shown by the whole suite passing on PostgreSQL with the
triggers on; the lifecycle test below walks the operations that update the guarded tables.
SQLite has no such guard (as for the audit tables): these tests are skipped there.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.actor import Actor
from telehealth.db import database
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity, State
from tests.integration import dispensing_world as pharmacy
from tests.integration.dosing_world import book, course, here, in_hours, open_window

REFUSED = "retained records"


@pytest.fixture(autouse=True)
def postgresql_only(app):
    if database(app).dialect != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no retention triggers")


@dataclass
class Rows:
    """One row of every guarded table, by table name."""

    ids: dict[str, int]


@pytest.fixture
def rows(app, session, make, clock) -> Rows:
    """A received package (dispensing, shipment, ledger movement), a session with a check-in, an
    open escalation with its timeline, and a prescriber's release authorization."""
    c = course(app, session, make)
    booked = book(session, c, in_hours(1))
    open_window(session, c, booked, clock)
    here(session, c)
    escalation = escalations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                              patient_id=c.patient.id, reason=Reason.SOS, severity=Severity.HIGH)
    dispensing.authorize_release(session, c.doctor, c.patient.id, "Reached the patient by phone; all well.")
    session.commit()

    def one(table: str) -> int:
        found = session.execute(sa.text(f"SELECT min(id) FROM {table}")).scalar()
        assert found is not None, f"no {table} row to try"
        return found

    tables = ("dispensings", "inventory_movements", "release_overrides", "check_ins", "escalation_events",
              "shipments")
    return Rows({**{table: one(table) for table in tables}, "escalations": escalation.id})


def run(session, sql: str, **params) -> None:
    with session.begin_nested():
        session.execute(sa.text(sql), params)


def assert_refused(session, sql: str, match: str = REFUSED, **params) -> None:
    with pytest.raises(sa.exc.DBAPIError, match=match):
        run(session, sql, **params)


def count(session, table: str) -> int:
    return session.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


# --- append-only tables -----------------------------------------------------------------------

APPEND_ONLY = ["dispensings", "inventory_movements", "release_overrides", "check_ins", "escalation_events"]
GUARDED = APPEND_ONLY + ["shipments", "escalations"]


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_an_append_only_row_cannot_be_updated_even_to_itself(session, rows, table):
    assert_refused(session, f"UPDATE {table} SET id = id WHERE id = :id", id=rows.ids[table])


@pytest.mark.parametrize("table", GUARDED)
def test_a_retained_row_cannot_be_deleted(session, rows, table):
    before = count(session, table)
    # Foreign keys would refuse some of these too: the trigger refuses first, and by name.
    assert_refused(session, f"DELETE FROM {table} WHERE id = :id", match=f"DELETE on {table} refused",
                   id=rows.ids[table])
    assert count(session, table) == before


@pytest.mark.parametrize("table", GUARDED)
def test_a_retained_table_cannot_be_truncated(session, rows, table):
    before = count(session, table)
    assert_refused(session, f"TRUNCATE {table} CASCADE", match=f"TRUNCATE on {table} refused")
    assert count(session, table) == before


def test_a_new_ledger_entry_is_still_accepted(session, rows):
    """Corrections are new entries: inserting is never refused."""
    run(session, "INSERT INTO inventory_movements (patient_id, lot_number, kind, quantity, at, actor_label, "
                 "corrects_id) SELECT patient_id, lot_number, 'correction', -1, at, 'test', id "
                 "FROM inventory_movements WHERE id = :id", id=rows.ids["inventory_movements"])


# --- shipments --------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    "carrier = 'UPS'", "tracking_number = 'X1'", "shipped_at = shipped_at - interval '1 day'",
    "patient_id = patient_id + 1000", "dispensing_id = dispensing_id + 1000", "shipped_by_id = NULL",
])
def test_what_was_shipped_to_whom_and_when_cannot_change(session, rows, change):
    assert_refused(session, f"UPDATE shipments SET {change} WHERE id = :id", id=rows.ids["shipments"])


@pytest.mark.parametrize("change", [
    "delivered_at = delivered_at + interval '1 hour'", "delivered_at = NULL",
    "received_at = NULL", "received_count = received_count + 1", "received_via = 'sms'",
])
def test_a_delivery_or_receipt_once_recorded_cannot_change_or_be_cleared(session, rows, change):
    assert_refused(session, f"UPDATE shipments SET {change} WHERE id = :id", match="set once",
                   id=rows.ids["shipments"])


def test_a_shipments_later_facts_can_be_filled_in_once(session, rows):
    shipment = rows.ids["shipments"]
    run(session, "UPDATE shipments SET lost_reported_at = now(), dea_notice_on = current_date WHERE id = :id",
        id=shipment)
    assert_refused(session, "UPDATE shipments SET dea_notice_on = current_date - 1 WHERE id = :id",
                   match="dea_notice_on is set once", id=shipment)


# --- escalations ------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    "reason = 'crisis_phrase'", "patient_id = patient_id + 1000", "opened_at = opened_at + interval '1 minute'",
    "dose_number = 7", "session_id = (SELECT min(id) FROM dose_sessions)",
])
def test_what_an_escalation_was_about_cannot_change(session, rows, change):
    assert_refused(session, f"UPDATE escalations SET {change} WHERE id = :id", id=rows.ids["escalations"])


def test_severity_may_rise_and_never_fall(session, rows):
    escalation = rows.ids["escalations"]
    run(session, "UPDATE escalations SET severity = 'urgent' WHERE id = :id", id=escalation)
    assert_refused(session, "UPDATE escalations SET severity = 'high' WHERE id = :id", match="severity never falls",
                   id=escalation)


def test_the_trigger_count_never_falls(session, rows):
    assert_refused(session, "UPDATE escalations SET trigger_count = 0 WHERE id = :id",
                   match="trigger_count never falls", id=rows.ids["escalations"])


def test_an_acknowledgement_is_never_cleared_or_moved_earlier(session, rows):
    escalation = rows.ids["escalations"]
    run(session, "UPDATE escalations SET state = 'acknowledged', acknowledged_at = now() WHERE id = :id",
        id=escalation)
    assert_refused(session, "UPDATE escalations SET acknowledged_at = NULL WHERE id = :id",
                   match="acknowledged_at", id=escalation)
    assert_refused(session, "UPDATE escalations SET acknowledged_at = acknowledged_at - interval '1 minute' "
                            "WHERE id = :id", match="acknowledged_at", id=escalation)
    # A re-acknowledgement, after a more severe trigger re-opened it, is written later.
    run(session, "UPDATE escalations SET acknowledged_at = acknowledged_at + interval '5 minutes' WHERE id = :id",
        id=escalation)


def test_a_resolved_escalation_is_final(session, rows):
    escalation = rows.ids["escalations"]
    run(session, "UPDATE escalations SET state = 'resolved', resolved_at = now(), outcome = 'other', "
                 "resolution_note = 'Called back.', open_key = NULL, next_page_at = NULL WHERE id = :id",
        id=escalation)
    for change in ("state = 'open'", "next_page_at = now()", "open_key = 'reopened'"):
        assert_refused(session, f"UPDATE escalations SET {change} WHERE id = :id", match="resolved escalation is final",
                       id=escalation)
    assert_refused(session, "UPDATE escalations SET resolution_note = 'Edited later.' WHERE id = :id",
                   match="resolution_note is set once", id=escalation)


def test_paging_bookkeeping_moves_freely_while_open(session, rows):
    run(session, "UPDATE escalations SET steps_paged = steps_paged + 1, next_page_at = now(), "
                 "paging_started_at = now() WHERE id = :id", id=rows.ids["escalations"])


# --- the application's own lifecycle passes the guards -----------------------------------------

def test_the_operations_lifecycle_of_a_package_and_an_escalation_passes_the_guards(app, session, make, clock):
    """Ship, deliver, receive; raise, acknowledge, raise again more severely (re-opened), acknowledge
    again, resolve: every update the operations make is one the triggers allow."""
    prescriber, pharmacist = make.user("prescriber"), make.user("pharmacist")
    patient = make.patient(prescriber)
    settings = DispensingSettings.from_config(app.config)
    package = pharmacy.delivered_package(session, pharmacist, settings,
                                         pharmacy.prescribe(session, patient, prescriber))
    dispensing.confirm_receipt(session, Actor.for_user(patient.user), settings, patient_id=patient.id, count=8,
                               channel="web")
    session.commit()

    actor, policy = Actor.for_user(prescriber), EscalationSettings.from_config(app.config)
    raised = escalations.raise_escalation(session, Actor.system("test"), policy, patient_id=patient.id,
                                          reason=Reason.SOS, severity=Severity.MODERATE)
    escalations.acknowledge(session, actor, raised.id, channel="web")
    session.commit()
    clock.advance(timedelta(minutes=3))
    escalations.raise_escalation(session, Actor.system("test"), policy, patient_id=patient.id, reason=Reason.SOS,
                                 severity=Severity.URGENT)
    session.commit()
    clock.advance(timedelta(minutes=2))
    escalations.acknowledge(session, actor, raised.id, channel="web")
    escalations.resolve(session, actor, raised.id, outcome="reached_patient", note="Spoke with the patient.",
                        channel="web")
    session.commit()

    session.expire_all()
    assert session.get(type(package), package.id).received_count == 8
    assert session.get(Escalation, raised.id).state is State.RESOLVED
