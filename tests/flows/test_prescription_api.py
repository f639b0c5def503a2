"""SPEC §3 steps 1–3 and §10 through `/api/v1`: screenings and overrides, sitters, issuing,
reading, listing and changing prescriptions; one JSON error shape; bad input changes nothing."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role, Sitter
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.messaging.models import Message
from telehealth.prescriptions.models import Prescription, PrescriptionStatus, Screening
from tests.flows.api import (CLEAR, ERROR_SHAPE, LOT, TERMS, audited, count, prescriber_with_dea, prescription_for,
                             token_for)


@pytest.fixture
def team(make, session):
    prescriber = prescriber_with_dea(make, session, name="Dana Prescriber")
    patient = make.patient(prescriber, name="Gale Harper")
    return prescriber, patient


def screen(client, headers, patient, **changes):
    return client.post(f"/api/v1/patients/{patient.id}/screenings", headers=headers, json={**CLEAR, **changes})


def issue(client, headers, patient, **changes):
    return client.post("/api/v1/prescriptions", headers=headers, json={"patient_id": patient.id, **TERMS, **changes})


@pytest.mark.parametrize("changes, fields", [
    ({"baseline_systolic": "124"}, {"baseline_systolic"}),
    ({"phq9": 17.5, "gad7": True}, {"phq9", "gad7"}),
    ({"contraindications": ["boredom", 7]}, {"contraindications"}),
    ({"contraindications": "psychosis_or_mania"}, {"contraindications"}),
    ({"baseline_systolic": 400}, {"baseline_systolic"}),
    ({"mood": "fine"}, {"mood"}),
])
def test_a_screening_with_bad_input_is_422_with_field_messages_and_writes_nothing(
        client, session, team, changes, fields):
    prescriber, patient = team
    response = screen(client, token_for(client, prescriber), patient, **changes)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == fields
    assert all(isinstance(m, str) for messages in response.json["errors"].values() for m in messages)
    assert count(session, Screening) == 0


def test_a_contraindication_blocks_issuing_until_the_prescriber_overrides_it(client, session, team):
    prescriber, patient = team
    headers = token_for(client, prescriber)
    recorded = screen(client, headers, patient, contraindications=["uncontrolled_hypertension"])
    assert recorded.status_code == 201 and recorded.json["clears_prescribing"] is False
    blocked = issue(client, headers, patient)
    assert blocked.status_code == 422 and set(blocked.json["errors"]) == {"screening"}
    overridden = client.post(f"/api/v1/screenings/{recorded.json['id']}/override", headers=headers,
                             json={"reason": "Controlled on two agents; cardiology agrees."})
    assert overridden.status_code == 200 and overridden.json["clears_prescribing"] is True
    assert overridden.json["override_by_id"] == prescriber.id
    assert issue(client, headers, patient).status_code == 201
    assert len(audited(session, AuditAction.SCREENING_OVERRIDDEN)) == 1


def test_the_latest_screening_is_read_back_and_404_when_there_is_none(client, team):
    prescriber, patient = team
    headers = token_for(client, prescriber)
    missing = client.get(f"/api/v1/patients/{patient.id}/screenings/latest", headers=headers)
    assert missing.status_code == 404 and set(missing.json) == ERROR_SHAPE
    screen(client, headers, patient, phq9=20)
    latest = client.get(f"/api/v1/patients/{patient.id}/screenings/latest", headers=headers)
    assert latest.status_code == 200 and latest.json["phq9"] == 20
    assert latest.json["recorded_by"] == {"id": prescriber.id, "full_name": "Dana Prescriber"}


def test_issuing_a_prescription_returns_it_with_the_dea_number_and_the_6_month_expiry(client, session, team):
    prescriber, patient = team
    headers = token_for(client, prescriber)
    screen(client, headers, patient)
    response = issue(client, headers, patient)
    assert response.status_code == 201
    body = response.json
    assert body["status"] == "active" and body["prescriber_dea_number"] == "AB1234563"
    assert body["issued_on"] == "2026-11-20" and body["expires_on"] == "2027-05-21"  # 182 days on
    assert body["prescriber"] == {"id": prescriber.id, "full_name": "Dana Prescriber"}
    assert body["patient_name"] == "Gale Harper" and body["quantity"] == 16
    assert count(session, Prescription) == 1


def test_issuing_six_refills_is_refused(client, session, team):
    prescriber, patient = team
    headers = token_for(client, prescriber)
    screen(client, headers, patient)
    response = issue(client, headers, patient, refills=6)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert response.json["errors"] == {"refills": ["Schedule III allows at most 5 refills."]}
    assert count(session, Prescription) == 0


@pytest.mark.parametrize("changes, fields", [
    ({"quantity": "16"}, {"quantity"}),
    ({"quantity": 16.5, "refills": True}, {"quantity", "refills"}),
    ({"status": "paused"}, {"status"}),
    ({"issued_on": "next tuesday"}, {"issued_on"}),
    ({"directions": None}, {"directions"}),
    ({"schedule": "II"}, {"schedule"}),
])
def test_issuing_with_bad_input_is_422_with_field_messages_and_writes_nothing(client, session, team, changes, fields):
    prescriber, patient = team
    headers = token_for(client, prescriber)
    screen(client, headers, patient)
    response = issue(client, headers, patient, **changes)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == fields
    assert count(session, Prescription) == 0


def test_issuing_without_a_dea_number_on_record_is_refused(client, session, make):
    prescriber = make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber)
    headers = token_for(client, prescriber)
    screen(client, headers, patient)
    response = issue(client, headers, patient)
    assert response.status_code == 422 and set(response.json["errors"]) == {"prescriber"}
    assert count(session, Prescription) == 0


def test_a_prescription_reads_back_with_its_fills(app, client, session, make, team):
    prescriber, patient = team
    prescription = prescription_for(session, prescriber, patient)
    pharmacist = make.user(Role.PHARMACIST, name="Ira Pharmacist")
    dispensing.dispense(session, Actor.for_user(pharmacist), DispensingSettings.from_config(app.config),
                        prescription.id, quantity=16, **LOT)
    session.commit()
    response = client.get(f"/api/v1/prescriptions/{prescription.id}", headers=token_for(client, patient.user))
    assert response.status_code == 200
    fill, = response.json["fills"]
    assert fill["fill_number"] == 1 and fill["lot_number"] == "KX-2291" and fill["lot_expiry"] == "2027-12-31"
    assert fill["pharmacist"] == {"id": pharmacist.id, "full_name": "Ira Pharmacist"} and fill["shipment_id"] is None
    assert response.json["fills_left"] == 2 and response.json["directions"] == TERMS["directions"]


def test_the_list_filters_by_patient_and_status(client, session, make, team):
    prescriber, patient = team
    other = make.patient(prescriber)
    first = prescription_for(session, prescriber, patient)
    second = prescription_for(session, prescriber, other, status="draft")
    headers = token_for(client, prescriber)

    def listed(query: str) -> list[int]:
        response = client.get(f"/api/v1/prescriptions?{query}", headers=headers)
        assert response.status_code == 200, response.json
        return [p["id"] for p in response.json]

    assert listed("") == [second.id, first.id]
    assert listed(f"patient_id={patient.id}") == [first.id]
    assert listed("status=draft") == [second.id]
    assert listed("status=active,draft") == listed("status=active&status=draft") == [second.id, first.id]
    assert listed("status=cancelled") == []


def test_an_unknown_query_filter_is_422(client, team):
    prescriber, _ = team
    response = client.get("/api/v1/prescriptions?status=paused&drug=ketamine&patient_id=x",
                          headers=token_for(client, prescriber))
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == {"status", "drug", "patient_id"}
    assert response.json["errors"]["drug"] == ["Unknown field."]


def test_a_patient_reads_their_own_prescriptions_and_gets_404_for_anothers(client, session, make, team):
    prescriber, patient = team
    mine = prescription_for(session, prescriber, patient)
    theirs = prescription_for(session, prescriber, make.patient(prescriber))
    headers = token_for(client, patient.user)
    assert [p["id"] for p in client.get("/api/v1/prescriptions", headers=headers).json] == [mine.id]
    assert client.get(f"/api/v1/prescriptions/{mine.id}", headers=headers).status_code == 200
    refused = client.get(f"/api/v1/prescriptions/{theirs.id}", headers=headers)
    assert refused.status_code == 404 and refused.json["message"] == "Not found."
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 1
    assert issue(client, headers, patient).status_code == 403  # patients do not prescribe


def test_suspending_needs_a_note_and_a_final_status_cannot_change(client, session, team):
    prescriber, patient = team
    prescription = prescription_for(session, prescriber, patient)
    headers = token_for(client, prescriber)
    path = f"/api/v1/prescriptions/{prescription.id}/status"
    silent = client.post(path, headers=headers, json={"status": "suspended"})
    assert silent.status_code == 422 and set(silent.json["errors"]) == {"note"}
    cancelled = client.post(path, headers=headers, json={"status": "cancelled", "note": "Patient moved away."})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert cancelled.json["status_note"] == "Patient moved away."
    again = client.post(path, headers=headers, json={"status": "active"})
    assert again.status_code == 409 and set(again.json) == ERROR_SHAPE
    session.expire_all()
    assert session.get(Prescription, prescription.id).status is PrescriptionStatus.CANCELLED


def test_registering_a_sitter_texts_them_a_code(client, session, team):
    prescriber, patient = team
    response = client.post(f"/api/v1/patients/{patient.id}/sitters", headers=token_for(client, prescriber),
                           json={"full_name": "Sam Sitter", "phone": "(201) 555-0188",
                                 "relationship_to_patient": "spouse"})
    assert response.status_code == 201
    assert response.json["phone"] == "+12015550188" and response.json["phone_verified_at"] is None
    code, = session.scalars(sa.select(Message).where(Message.to_phone == "+12015550188"))
    assert code.template == "sitter_code" and code.owner_id == response.json["id"]


def test_registering_a_sitter_with_bad_input_is_422_and_adds_nobody(client, session, team):
    prescriber, patient = team
    response = client.post(f"/api/v1/patients/{patient.id}/sitters", headers=token_for(client, prescriber),
                           json={"full_name": "Sam Sitter", "phone": "12", "relationship_to_patient": "spouse",
                                 "age": 40})
    assert response.status_code == 422 and set(response.json["errors"]) == {"age"}
    response = client.post(f"/api/v1/patients/{patient.id}/sitters", headers=token_for(client, prescriber),
                           json={"full_name": "Sam Sitter", "phone": "12", "relationship_to_patient": " "})
    assert response.status_code == 422 and set(response.json["errors"]) == {"phone", "relationship_to_patient"}
    assert count(session, Sitter) == 0


def test_a_sitters_code_is_resent_and_the_sitter_deactivated_by_the_patient(client, session, team):
    _, patient = team
    headers = token_for(client, patient.user)
    sitter = client.post(f"/api/v1/patients/{patient.id}/sitters", headers=headers,
                         json={"full_name": "Sam Sitter", "phone": "+12015550188",
                               "relationship_to_patient": "friend"}).json
    assert client.post(f"/api/v1/sitters/{sitter['id']}/resend-code", headers=headers).status_code == 200
    assert count(session, Message) == 2
    deactivated = client.post(f"/api/v1/sitters/{sitter['id']}/deactivate", headers=headers)
    assert deactivated.status_code == 200 and deactivated.json["active"] is False
    assert client.post(f"/api/v1/sitters/{sitter['id']}/resend-code", headers=headers).status_code == 409


def test_another_prescribers_patient_is_404_for_screenings_sitters_and_prescriptions(client, session, make, team):
    _, patient = team
    outsider = prescriber_with_dea(make, session)
    headers = token_for(client, outsider)
    for response in (screen(client, headers, patient), issue(client, headers, patient),
                     client.get(f"/api/v1/patients/{patient.id}/screenings/latest", headers=headers),
                     client.post(f"/api/v1/patients/{patient.id}/sitters", headers=headers,
                                 json={"full_name": "A", "phone": "+12015550188", "relationship_to_patient": "b"})):
        assert response.status_code == 404 and response.json["message"] == "Not found."
    assert count(session, Screening) == count(session, Sitter) == 0
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 4


def test_the_prescriptions_api_is_documented(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/patients/{patient_id}/screenings", "/api/v1/patients/{patient_id}/screenings/latest",
            "/api/v1/screenings/{screening_id}/override", "/api/v1/patients/{patient_id}/sitters",
            "/api/v1/sitters/{sitter_id}/resend-code", "/api/v1/sitters/{sitter_id}/deactivate",
            "/api/v1/prescriptions", "/api/v1/prescriptions/{prescription_id}",
            "/api/v1/prescriptions/{prescription_id}/status"} <= set(paths)
