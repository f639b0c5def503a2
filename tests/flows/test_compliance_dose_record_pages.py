"""Dose records over HTTP (SPEC §8, §10): the compliance officer lists, opens, prints and exports
dose records as CSV, on the pages and the API; everyone else is refused and audited; filters are
checked by the reports' one parser; exported cells cannot start a spreadsheet formula."""
import csv
import io

import pytest

from telehealth.audit.models import AuditAction
from tests.conftest import log_in
from tests.flows.api import ERROR_SHAPE, audited, token_for
from tests.flows.courses import text_of
from tests.integration import dosing_world as w
from tests.integration.test_compliance_dose_records import whole_session


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


@pytest.fixture
def done(session, c, clock):
    return whole_session(session, c, clock)


@pytest.fixture
def officer(make):
    return make.user("compliance", name="Olga Officer")


def signed_in(client, user):
    log_in(client, user.email)
    return client


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


# --- the pages ----------------------------------------------------------------------------------

def test_the_list_links_each_dose_to_its_record(client, done, officer):
    response = signed_in(client, officer).get("/compliance/dose-records")
    assert response.status_code == 200
    assert f'href="/compliance/dose-records/{done.id}"' in response.get_data(as_text=True)
    shown = text_of(response)
    assert "2026-11-20" in shown and "Sid Sitter" in shown and "LOT-A1 (1)" in shown and "120 min" in shown


def test_the_record_page_shows_the_whole_form_in_the_patient_s_time(client, c, done, officer):
    shown = text_of(signed_in(client, officer).get(f"/compliance/dose-records/{done.id}"))
    for words in (c.patient.full_name, "Sid Sitter (friend)", c.prescriber.full_name, "LOT-A1 (1 taken",
                  "Fri 20 Nov 2026, 10:35 CST",                      # taken, in Chicago
                  "Before the dose 165/105", "recheck after resting 152/94", "After the dose (post-dose report) 138/86",
                  "At release 131/84", "120 minutes", "Dissociation or confusion (0–10) — 8",
                  "After the dose: dissociation or confusion 8/10", "reached patient: Called; settling.",
                  "missed observation check high", "unresolved", "released by the sitter"):
        assert words in shown, words


def test_reading_the_list_and_a_record_is_audited_with_the_patient_and_the_filters(client, c, session, done, officer):
    signed_in(client, officer).get("/compliance/dose-records?start=2026-11-01&lot=LOT-A1")
    client.get(f"/compliance/dose-records/{done.id}")
    listed, opened = audited(session, AuditAction.REPORT_READ)
    assert (listed.patient_id, listed.details["filters"]) == (c.patient.id, {"start_on": "2026-11-01",
                                                                            "lot_number": "LOT-A1"})
    assert (opened.patient_id, opened.object_id, opened.actor_user_id) == (c.patient.id, str(done.id), officer.id)


@pytest.mark.parametrize("role", ["prescriber", "pharmacist", "admin", "patient"])
@pytest.mark.parametrize("path", ["/compliance/dose-records", "/compliance/dose-records/{id}",
                                  "/compliance/dose-records.csv", "/compliance/dose-records/{id}.csv"])
def test_only_compliance_staff_reach_dose_records_and_refusals_are_audited(client, session, make, done, role, path):
    someone = make.patient(make.user("prescriber")).user if role == "patient" else make.user(role)
    response = signed_in(client, someone).get(path.format(id=done.id))
    assert response.status_code == 403
    assert "Sid Sitter" not in response.get_data(as_text=True)
    [refusal] = audited(session, AuditAction.ACCESS_REFUSED)
    assert (refusal.actor_user_id, refusal.details["path"]) == (someone.id, path.format(id=done.id))
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


def test_an_unknown_session_or_one_never_taken_is_not_found(client, session, c, clock, officer):
    booked = w.book(session, c, w.in_hours(2))
    signed_in(client, officer)
    assert client.get("/compliance/dose-records/999999").status_code == 404
    assert client.get(f"/compliance/dose-records/{booked.id}").status_code == 404
    assert client.get(f"/compliance/dose-records/{booked.id}.csv").status_code == 404


@pytest.mark.parametrize(("query", "field"), [("start=2026-13-01", "start"), ("start=2026-11-21&end=2026-11-20", "end"),
                                              ("prescriber=abc", "prescriber"), ("size=100000", "size"),
                                              ("sort=patient", "sort")])
def test_a_malformed_or_unknown_filter_is_refused_by_field_and_nothing_is_read(client, session, done, officer, query,
                                                                             field):
    signed_in(client, officer)
    for path in ("/compliance/dose-records", "/compliance/dose-records.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 422
        assert field in text_of(response)
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


def test_the_list_pages_by_session_with_a_link_to_the_next_page_keeping_the_filters(client, session, c, clock,
                                                                                   officer):
    first = w.complete(session, c, clock, w.dosed_session(session, c, clock))
    clock.advance(hours=80)
    second = w.dosed_session(session, c, clock)
    page = signed_in(client, officer).get(f"/compliance/dose-records?size=1&patient={c.patient.id}")
    html = page.get_data(as_text=True)
    assert f"/compliance/dose-records/{first.id}\"" in html and f"/compliance/dose-records/{second.id}\"" not in html
    assert f'href="/compliance/dose-records?size=1&amp;patient={c.patient.id}&amp;after={first.id}"' in html
    following = client.get(f"/compliance/dose-records?size=1&patient={c.patient.id}&after={first.id}")
    assert f"/compliance/dose-records/{second.id}\"" in following.get_data(as_text=True)
    assert 'rel="next"' not in following.get_data(as_text=True)


# --- CSV ----------------------------------------------------------------------------------------

def test_the_officer_exports_a_dose_record_as_csv_and_the_export_is_audited(client, c, session, done, officer):
    response = signed_in(client, officer).get(f"/compliance/dose-records/{done.id}.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="dose-record-{done.id}.csv"'
    rows = rows_of(response)
    assert rows[0] == ["section", "item", "value", "at_local"]
    assert ["blood pressure", "before the dose", "165/105", "2026-11-20T10:30:00-06:00"] in rows
    assert ["blood pressure", "before the dose, recheck", "152/94", "2026-11-20T10:35:00-06:00"] in rows
    assert ["blood pressure", "after the dose", "138/86", "2026-11-20T11:35:00-06:00"] in rows
    assert ["observation", "total minutes", "120", ""] in rows
    assert rows_by(rows, "dose", "lot").startswith("LOT-A1 (1, expires 2027-")
    assert ["post-dose answers", "dissociation", "8", ""] in rows
    outcome = [row for row in rows if row[0].startswith("escalation ") and row[1] == "outcome"]
    assert [row[2] for row in outcome] == ["reached patient", ""]
    [exported] = audited(session, AuditAction.REPORT_EXPORTED)
    assert (exported.patient_id, exported.object_id, exported.details["format"]) == (c.patient.id, str(done.id), "csv")


def rows_by(rows, section, item) -> str:
    return next(row[2] for row in rows if row[:2] == [section, item])


def test_the_list_exports_one_line_per_dose_with_its_key_figures(client, c, session, done, officer):
    response = signed_in(client, officer).get("/compliance/dose-records.csv?start=2026-11-20&end=2026-11-20")
    header, line = rows_of(response)
    figures = dict(zip(header, line))
    assert {k: figures[k] for k in ("session_id", "dose_date", "dosed_at_local", "lots", "bp_before", "bp_recheck",
                                    "bp_after", "observation_minutes", "escalations", "unresolved_escalations")} == {
        "session_id": str(done.id), "dose_date": "2026-11-20", "dosed_at_local": "2026-11-20T10:35:00-06:00",
        "lots": "LOT-A1 (1)", "bp_before": "165/105", "bp_recheck": "152/94", "bp_after": "138/86",
        "observation_minutes": "120", "escalations": "2", "unresolved_escalations": "1"}
    [exported] = audited(session, AuditAction.REPORT_EXPORTED)
    assert (exported.patient_id, exported.details["filters"]) == (c.patient.id, {"start_on": "2026-11-20",
                                                                                  "end_on": "2026-11-20"})


def test_names_that_would_start_a_formula_come_out_as_text(client, c, session, done, officer):
    c.sitter.full_name = "=HYPERLINK(\"http://evil.example\",\"x\")"
    c.patient.user.full_name = "@SUM(1+1)"
    session.commit()
    signed_in(client, officer)
    record = rows_of(client.get(f"/compliance/dose-records/{done.id}.csv"))
    assert rows_by(record, "sitter", "name") == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert rows_by(record, "patient", "name") == "'@SUM(1+1)"
    header, line = rows_of(client.get("/compliance/dose-records.csv"))
    figures = dict(zip(header, line))
    assert (figures["sitter"], figures["patient"]) == ("'=HYPERLINK(\"http://evil.example\",\"x\")", "'@SUM(1+1)")


# --- the API ------------------------------------------------------------------------------------

def test_the_api_lists_dose_records_a_page_at_a_time(client, session, c, done, officer):
    response = client.get("/api/v1/compliance/dose-records?size=1", headers=token_for(client, officer))
    assert response.status_code == 200
    [item] = response.json["items"]
    assert response.json["next_after"] is None
    assert {k: item[k] for k in ("session_id", "dose_date", "patient_id", "sitter", "lots", "bp_before",
                                 "bp_recheck", "bp_after", "observation_minutes", "escalations",
                                 "unresolved_escalations", "most_severe", "record_complete")} == {
        "session_id": done.id, "dose_date": "2026-11-20", "patient_id": c.patient.id, "sitter": "Sid Sitter",
        "lots": ["LOT-A1 (1)"], "bp_before": "165/105", "bp_recheck": "152/94", "bp_after": "138/86",
        "observation_minutes": 120, "escalations": 2, "unresolved_escalations": 1, "most_severe": "high",
        "record_complete": True}


def test_the_api_gives_one_whole_record(client, c, done, officer):
    body = client.get(f"/api/v1/compliance/dose-records/{done.id}", headers=token_for(client, officer)).json
    assert body["pre_dose_answers"]["blood_pressure_recheck"] == [152, 94]
    assert body["post_dose_answers"]["dissociation"] == 8
    assert body["lots_taken"][0]["lot_number"] == "LOT-A1"
    assert body["bp_at_release"] == "131/84"
    adverse, missed = body["escalation_outcomes"]
    assert (adverse["outcome"], adverse["acknowledged_by"], missed["state"]) == \
        ("reached_patient", c.prescriber.full_name, "open")
    assert [check["what"].split(":")[0] for check in body["sedation_checks"]][-1] == "released by the sitter"


def test_the_api_refuses_other_roles_and_bad_filters_in_the_one_error_shape(client, session, make, done, officer):
    refused = client.get("/api/v1/compliance/dose-records", headers=token_for(client, make.user("admin")))
    assert refused.status_code == 403 and set(refused.json) == ERROR_SHAPE
    bad = client.get("/api/v1/compliance/dose-records?start=yesterday&colour=red", headers=token_for(client, officer))
    assert bad.status_code == 422 and set(bad.json) == ERROR_SHAPE
    assert set(bad.json["errors"]) == {"start", "colour"}
    missing = client.get("/api/v1/compliance/dose-records/999999", headers=token_for(client, officer))
    assert missing.status_code == 404 and set(missing.json) == ERROR_SHAPE


def test_the_api_exports_csv_too(client, done, officer):
    response = client.get(f"/api/v1/compliance/dose-records/{done.id}.csv", headers=token_for(client, officer))
    assert response.mimetype == "text/csv" and rows_of(response)[0] == ["section", "item", "value", "at_local"]


def test_the_openapi_document_describes_the_dose_record_api_and_its_filters(client):
    spec = client.get("/api/openapi.json").json
    listing = spec["paths"]["/api/v1/compliance/dose-records"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"start", "end", "prescriber", "patient", "lot", "after",
                                                          "size"}
    assert "/api/v1/compliance/dose-records/{dose_session_id}" in spec["paths"]
    assert "DoseRecordOut" in spec["components"]["schemas"]
