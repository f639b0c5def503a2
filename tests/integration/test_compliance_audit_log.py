"""The audit log as compliance staff read it (SPEC §10 "audit log: read, export"): who acted, when,
from where, on what and whose record, its details and its seal; each filter; paging and the
export; the read itself audited; nobody else may read it."""
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.audit.operations import record
from telehealth.compliance import audit_log
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.db import database
from telehealth.errors import NotAllowed
from tests.integration.test_audit_chain import add_events, seal_all

ZONE = ZoneInfo("America/New_York")
A = AuditAction


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user(Role.COMPLIANCE))


@pytest.fixture
def world(session, make, clock):
    """Dr. Dana reads Gale's record, then Remy's the next day; the pharmacist dispenses to Gale."""
    dana = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    pharmacist = make.user(Role.PHARMACIST, name="Ira Pharmacist")
    gale = make.patient(dana, name="Gale Harper")
    remy = make.patient(dana, name="Remy Stone")
    events = []
    for at, who, action, patient, details in (
            (datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc), dana, A.PATIENT_RECORD_READ, gale, {"path": "/p"}),
            (datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc), dana, A.PATIENT_RECORD_READ, remy, {"path": "/p"}),
            (datetime(2026, 11, 21, 16, 0, tzinfo=timezone.utc), pharmacist, A.DISPENSED, gale, {"quantity": 8})):
        clock.set(at)
        events.append(record(session, Actor.for_user(who, client_address="192.0.2.10"), action,
                             object_type="patient", object_id=patient.id, patient_id=patient.id, details=details))
    session.flush()
    return dana, pharmacist, gale, remy, events


def read(session, officer, **filters):
    return audit_log.read_page(session, officer, ReportFilters(**filters), Page(size=500), ZONE)


def ours(entries, events):
    """The entries among the world's three events (the builder's own and the log's reads aside)."""
    mine = {event.id for event in events}
    return [entry.event_id for entry in entries if entry.event_id in mine]


def test_an_event_names_who_when_from_where_what_whose_record_and_awaits_its_seal(session, world, officer):
    dana, _, gale, _, events = world
    [first] = [entry for entry in read(session, officer) if entry.event_id == events[0].id]
    assert first.cells == (events[0].id, date(2026, 11, 20), "2026-11-20T15:00:00Z", dana.id, "Dana Prescriber",
                           "patient.record_read", "patient", str(gale.id), gale.id, "Gale Harper", "192.0.2.10",
                           '{"path": "/p"}', None)


def test_each_filter(session, world, officer):
    dana, pharmacist, gale, remy, events = world

    def ids(**filters):
        return ours(read(session, officer, **filters), events)
    assert ids() == [e.id for e in events]
    assert ids(patient_id=gale.id) == [events[0].id, events[2].id]
    assert ids(actor_id=pharmacist.id) == [events[2].id]
    assert ids(action="patient.record_read") == [events[0].id, events[1].id]
    assert ids(patient_id=gale.id, action="patient.record_read") == [events[0].id]   # who looked at Gale's record
    assert ids(start_on=date(2026, 11, 21)) == [events[1].id, events[2].id]
    assert ids(end_on=date(2026, 11, 20)) == [events[0].id]


def test_a_day_is_the_clinics_midnight_to_midnight(session, world, officer, clock):
    _, _, gale, _, _ = world
    clock.set(datetime(2026, 11, 22, 4, 59, tzinfo=timezone.utc))   # 23:59 on the 21st in New York
    late = record(session, Actor.system("test"), A.SMS_RECEIVED, patient_id=gale.id)
    session.flush()
    assert late.id in [e.event_id for e in read(session, officer, start_on=date(2026, 11, 21), end_on=date(2026, 11, 21))]
    assert late.id not in [e.event_id for e in read(session, officer, start_on=date(2026, 11, 22))]


def test_pages_follow_each_other_and_the_export_has_every_line(session, world, officer):
    filters = ReportFilters(action="patient.record_read", start_on=date(2026, 11, 20))
    first = audit_log.read_page(session, officer, filters, Page(size=1), ZONE)
    rest = audit_log.read_page(session, officer, filters, Page(after=first[-1].event_id, size=1), ZONE)
    assert len(first) == len(rest) == 1 and rest[0].event_id > first[0].event_id
    assert list(audit_log.export(session, officer, filters, ZONE, batch=1)) == [e.cells for e in first + rest]


def test_reading_the_log_is_audited_with_the_filters_and_the_patient(session, world, officer):
    _, _, gale, _, _ = world
    read(session, officer, patient_id=gale.id, action="patient.record_read")
    last = session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.action, last.actor_user_id, last.patient_id) == (A.REPORT_READ.value, officer.user_id, gale.id)
    assert last.details["report"] == "audit_log"
    assert last.details["filters"] == {"patient_id": gale.id, "action": "patient.record_read"}


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PRESCRIBER, Role.PHARMACIST])
def test_nobody_but_compliance_staff_reads_the_log(session, world, make, role):
    with pytest.raises(NotAllowed):
        read(session, Actor.for_user(make.user(role)))


def test_a_sealed_event_shows_its_place_in_the_chain(committed_app, clock):
    ids = add_events(committed_app, 2)
    seal_all(committed_app)
    with database(committed_app).new_session() as session:
        officer = Actor(user_id=None, role="compliance", label="test officer")
        seals = {entry.event_id: entry.seal for entry in audit_log.read_page(
            session, officer, ReportFilters(action="patient.list_read"), Page(), ZONE)}
        session.rollback()
    assert seals[ids[0]] is not None and seals[ids[1]] == seals[ids[0]] + 1
