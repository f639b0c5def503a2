"""SPEC §8, §10: every staff read of a patient's record, on every page and API route that shows one,
writes a read event naming the patient, with the reader's client address; every refused read
writes ACCESS_REFUSED instead (and nothing else). The tables below are checked against the app's
routes, so a new page or endpoint that shows patient data must be added here to pass."""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction as A
from telehealth.audit.models import AuditEvent
from telehealth.dispensing.models import Shipment
from telehealth.escalations import operations as escalations
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity
from telehealth.prescriptions.models import Prescription
from tests.conftest import log_in
from tests.flows.api import token_for
from tests.integration.dosing_world import book, course, in_hours

ADDRESS = "198.51.100.23"  # a documentation address: the reader's, as the server sees it

# GET routes that show no patient's data (or only the patient's own, which is not a staff read).
NOT_STAFF_READS = {
    "/", "/healthz", "/login", "/account", "/admin/users", "/api/openapi.json", "/api/v1/me", "/me",
    "/me/sessions", "/static/<path:filename>",
    "/s/<token>",   # the sitter's link: no name and nothing medical on it, and no staff read
}

# (reader, route, the read event it must write, whether that event names the patient).
# A page that gathers several panels has one row per panel's read.
STAFF_READS = [
    ("prescriber", "/patients", A.PATIENT_LIST_READ, False),
    ("prescriber", "/patients/<int:patient_id>", A.PATIENT_RECORD_READ, True),
    ("prescriber", "/patients/<int:patient_id>", A.PRESCRIPTION_LIST_READ, True),
    ("prescriber", "/patients/<int:patient_id>", A.SHIPMENT_READ, True),
    ("prescriber", "/patients/<int:patient_id>", A.ESCALATION_LIST_READ, True),
    ("prescriber", "/patients/<int:patient_id>", A.DOSE_SESSION_LIST_READ, True),
    ("compliance", "/patients/<int:patient_id>", A.PATIENT_RECORD_READ, True),
    ("prescriber", "/escalations", A.ESCALATION_LIST_READ, False),
    ("compliance", "/escalations/<int:escalation_id>", A.ESCALATION_READ, True),
    ("prescriber", "/escalations/<int:escalation_id>", A.ESCALATION_READ, True),
    ("pharmacist", "/pharmacy", A.PHARMACY_QUEUE_READ, False),
    ("pharmacist", "/pharmacy/prescriptions/<int:prescription_id>", A.PRESCRIPTION_READ, True),
    ("pharmacist", "/pharmacy/prescriptions/<int:prescription_id>", A.SHIPMENT_READ, True),
    ("prescriber", "/api/v1/patients", A.PATIENT_LIST_READ, False),
    ("compliance", "/api/v1/patients/<int:patient_id>", A.PATIENT_RECORD_READ, True),
    ("pharmacist", "/api/v1/patients/<int:patient_id>/inventory", A.INVENTORY_READ, True),
    ("prescriber", "/api/v1/patients/<int:patient_id>/release", A.RELEASE_STATUS_READ, True),
    ("compliance", "/api/v1/patients/<int:patient_id>/screenings/latest", A.PATIENT_RECORD_READ, True),
    ("prescriber", "/api/v1/patients/<int:patient_id>/sessions", A.DOSE_SESSION_LIST_READ, True),
    ("compliance", "/api/v1/patients/<int:patient_id>/shipments", A.SHIPMENT_READ, True),
    ("pharmacist", "/api/v1/pharmacy/queue", A.PHARMACY_QUEUE_READ, False),
    ("pharmacist", "/api/v1/prescriptions", A.PRESCRIPTION_LIST_READ, False),
    ("prescriber", "/api/v1/prescriptions?patient_id=<patient_id>", A.PRESCRIPTION_LIST_READ, True),
    ("compliance", "/api/v1/prescriptions/<int:prescription_id>", A.PRESCRIPTION_READ, True),
    ("prescriber", "/api/v1/sessions/<int:dose_session_id>", A.DOSE_SESSION_READ, True),
    ("compliance", "/api/v1/escalations", A.ESCALATION_LIST_READ, False),
    ("prescriber", "/api/v1/escalations?patient_id=<patient_id>", A.ESCALATION_LIST_READ, True),
    ("prescriber", "/api/v1/escalations/<int:escalation_id>", A.ESCALATION_READ, True),
]

# (reader, route, status): refused reads. "stranger" is a prescriber of other patients;
# "other_patient" is another patient. Each names the patient when the refusal knows them.
REFUSED_READS = [
    # the wrong role
    ("pharmacist", "/patients/<int:patient_id>", 403, False),
    ("patient", "/escalations", 403, False),
    ("admin", "/api/v1/patients/<int:patient_id>", 403, False),
    ("pharmacist", "/api/v1/escalations/<int:escalation_id>", 403, False),
    # a prescriber of another patient: 404, so that the refusal does not confirm the patient exists
    ("stranger", "/patients/<int:patient_id>", 404, True),
    ("stranger", "/escalations/<int:escalation_id>", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>/inventory", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>/release", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>/screenings/latest", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>/sessions", 404, True),
    ("stranger", "/api/v1/patients/<int:patient_id>/shipments", 404, True),
    ("stranger", "/api/v1/prescriptions/<int:prescription_id>", 404, True),
    ("stranger", "/api/v1/sessions/<int:dose_session_id>", 404, True),
    ("stranger", "/api/v1/escalations/<int:escalation_id>", 404, True),
    # a patient reading another patient's record
    ("other_patient", "/api/v1/patients/<int:patient_id>", 404, True),
    ("other_patient", "/api/v1/patients/<int:patient_id>/inventory", 404, True),
    ("other_patient", "/api/v1/patients/<int:patient_id>/sessions", 404, True),
    ("other_patient", "/api/v1/patients/<int:patient_id>/shipments", 404, True),
    ("other_patient", "/api/v1/prescriptions/<int:prescription_id>", 404, True),
    ("other_patient", "/api/v1/sessions/<int:dose_session_id>", 404, True),
]


@dataclass
class World:
    """One patient with everything a record shows: a prescription filled and received, a dose
    session booked, an open escalation; and readers in every role."""

    ids: dict[str, int]
    readers: dict[str, object]


@pytest.fixture
def world(app, session, make) -> World:
    c = course(app, session, make)
    booked = book(session, c, in_hours(2))
    escalation = escalations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                              patient_id=c.patient.id, reason=Reason.SOS, severity=Severity.URGENT)
    session.commit()
    prescription_id = session.scalar(sa.select(Prescription.id).where(Prescription.patient_id == c.patient.id))
    assert session.scalar(sa.select(Shipment.id).where(Shipment.patient_id == c.patient.id))
    stranger = make.user(Role.PRESCRIBER)
    readers = {"prescriber": c.prescriber, "pharmacist": make.user(Role.PHARMACIST),
               "compliance": make.user(Role.COMPLIANCE), "admin": make.user(Role.ADMIN), "stranger": stranger,
               "patient": c.patient.user, "other_patient": make.patient(stranger).user}
    return World(ids={"patient_id": c.patient.id, "prescription_id": prescription_id, "dose_session_id": booked.id,
                      "escalation_id": escalation.id}, readers=readers)


def url(route: str, ids: dict[str, int]) -> str:
    return re.sub(r"<(?:int:)?(\w+)>", lambda m: str(ids[m.group(1)]), route)


def last_event_id(session) -> int:
    return session.scalar(sa.select(sa.func.max(AuditEvent.id))) or 0


def events_since(session, event_id: int) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)))


@pytest.mark.parametrize("who, route, action, names_patient", STAFF_READS,
                         ids=[f"{who} {route} {action.value}" for who, route, action, _ in STAFF_READS])
def test_a_staff_read_writes_its_read_event_with_the_patient_and_client_address(client, session, world, who, route,
                                                                                action, names_patient):
    reader = world.readers[who]
    path = url(route, world.ids)
    if path.startswith("/api/"):
        headers = token_for(client, reader)
        before = last_event_id(session)
        response = client.get(path, headers=headers, environ_base={"REMOTE_ADDR": ADDRESS})
    else:
        log_in(client, reader.email)
        before = last_event_id(session)
        response = client.get(path, environ_base={"REMOTE_ADDR": ADDRESS})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    written = events_since(session, before)
    assert [e for e in written if e.action == action.value], [e.action for e in written]
    # Every row the request wrote is the reader's, from the reader's address.
    assert {(e.actor_user_id, e.client_address) for e in written} == {(reader.id, ADDRESS)}
    expected_patient = world.ids["patient_id"] if names_patient else None
    assert {e.patient_id for e in written if e.action == action.value} == {expected_patient}


@pytest.mark.parametrize("who, route, status, names_patient", REFUSED_READS,
                         ids=[f"{who} {route}" for who, route, _, _ in REFUSED_READS])
def test_a_refused_read_writes_access_refused_and_nothing_else(client, session, world, who, route, status,
                                                               names_patient):
    reader = world.readers[who]
    path = url(route, world.ids)
    headers = token_for(client, reader) if path.startswith("/api/") else None
    if headers is None:
        log_in(client, reader.email)
    before = last_event_id(session)
    response = client.get(path, headers=headers, environ_base={"REMOTE_ADDR": ADDRESS})
    assert response.status_code == status
    refusal, = events_since(session, before)
    assert refusal.action == A.ACCESS_REFUSED.value
    assert (refusal.actor_user_id, refusal.client_address) == (reader.id, ADDRESS)
    assert refusal.details["path"] == path and refusal.details["method"] == "GET"
    assert refusal.patient_id == (world.ids["patient_id"] if names_patient else None)


def test_every_get_route_is_a_listed_staff_read_or_shows_no_patient_data(app):
    """A new page or endpoint must join a table above, or be listed as showing no patient data."""
    listed = {route.split("?")[0] for _, route, _, _ in STAFF_READS}
    routes = {rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    routes = {r for r in routes if not r.startswith("/dev/")}  # the SMS simulator: development only
    # Compliance reports and dose records: their own room audits each read and export
    # (REPORT_READ, REPORT_EXPORTED) and its tests check it.
    routes = {r for r in routes if not r.startswith(("/compliance", "/api/v1/compliance"))}
    assert routes - NOT_STAFF_READS - listed == set()
    assert listed - routes == set(), "a listed route no longer exists"

