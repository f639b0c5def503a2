"""SPEC §3 steps 4–5 and 7, §8, §10 through `/api/v1`: fills, segregation of duties, staged release,
the patient's receipt, loss in transit with its DEA filings, and the inventory ledger."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.models import Dispensing, InventoryMovement, Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity
from tests.flows.api import ERROR_SHAPE, LOT, audited, count, prescriber_with_dea, prescription_for, token_for

TODAY = date(2026, 11, 20)  # the clock fixture's start
FILL = {"quantity": 16, "lot_number": "KX-2291", "lot_expiry": "2027-12-31"}


@pytest.fixture
def course(make, session):
    """A prescriber, their patient with an active prescription (16 lozenges, 2 refills), a pharmacist."""
    prescriber = prescriber_with_dea(make, session, name="Dana Prescriber")
    patient = make.patient(prescriber, name="Gale Harper")
    prescription = prescription_for(session, prescriber, patient)
    return prescriber, patient, prescription, make.user(Role.PHARMACIST, name="Ira Pharmacist")


def settings(app) -> DispensingSettings:
    return DispensingSettings.from_config(app.config)


def shipped(app, session, prescription, pharmacist) -> Shipment:
    """A fill of 16 lozenges mailed and delivered, awaiting the patient's count."""
    actor = Actor.for_user(pharmacist)
    fill = dispensing.dispense(session, actor, settings(app), prescription.id, quantity=16, **LOT)
    shipment = dispensing.ship(session, actor, settings(app), fill.id, carrier="USPS", tracking_number="9400 1000 0001")
    dispensing.mark_delivered(session, actor, settings(app), shipment.id)
    session.commit()
    return shipment


def fill_by_api(client, user, prescription, **changes):
    return client.post(f"/api/v1/prescriptions/{prescription.id}/dispensings", headers=token_for(client, user),
                       json={**FILL, **changes})


def fresh(session, model, row):
    session.expire_all()
    return session.get(model, row.id)


def test_a_pharmacist_dispenses_a_fill_from_a_lot(client, session, course):
    _, _, prescription, pharmacist = course
    response = fill_by_api(client, pharmacist, prescription, lot_number="kx-2291")
    assert response.status_code == 201
    body = response.json
    assert body["fill_number"] == 1 and body["quantity"] == 16 and body["lot_number"] == "KX-2291"
    assert body["pharmacist"] == {"id": pharmacist.id, "full_name": "Ira Pharmacist"} and body["shipment_id"] is None
    assert len(audited(session, AuditAction.DISPENSED)) == 1


@pytest.mark.parametrize("days, status", [(181, 201), (182, 422)])
def test_a_fill_after_day_181_from_issue_is_refused(client, session, clock, course, days, status):
    _, _, prescription, pharmacist = course
    clock.advance(days=days)
    response = fill_by_api(client, pharmacist, prescription)
    assert response.status_code == status
    if status == 422:
        assert set(response.json) == ERROR_SHAPE and set(response.json["errors"]) == {"prescription"}
        assert "182 days ago" in response.json["errors"]["prescription"][0]
    assert count(session, Dispensing) == (1 if status == 201 else 0)


def test_the_prescriber_cannot_dispense_their_own_prescription(client, session, course):
    prescriber, _, prescription, _ = course
    response = fill_by_api(client, prescriber, prescription)
    assert response.status_code == 403 and set(response.json) == ERROR_SHAPE
    assert "Segregation of duties" in response.json["message"]
    refusal, = audited(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == prescriber.id and refusal.object_type == "prescription"
    assert count(session, Dispensing) == 0


@pytest.mark.parametrize("expiry", [TODAY, TODAY - timedelta(days=30)])
def test_an_expired_lot_is_422(client, session, course, expiry):
    _, _, prescription, pharmacist = course
    response = fill_by_api(client, pharmacist, prescription, lot_expiry=expiry.isoformat())
    assert response.status_code == 422 and set(response.json["errors"]) == {"lot_expiry"}
    assert count(session, Dispensing) == 0


@pytest.mark.parametrize("changes, fields", [
    ({"quantity": "16"}, {"quantity"}),
    ({"quantity": 16.5}, {"quantity"}),
    ({"quantity": True, "lot_expiry": "soon"}, {"quantity", "lot_expiry"}),
    ({"quantity": 17}, {"quantity"}),  # more than the prescription's quantity per fill
    ({"lot_number": "KX 2291!"}, {"lot_number"}),
    ({"pharmacist_id": 1}, {"pharmacist_id"}),
])
def test_dispensing_with_bad_input_is_422_with_field_messages_and_writes_nothing(
        client, session, course, changes, fields):
    _, _, prescription, pharmacist = course
    response = fill_by_api(client, pharmacist, prescription, **changes)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == fields
    assert all(isinstance(m, str) for messages in response.json["errors"].values() for m in messages)
    assert count(session, Dispensing) == 0


def test_shipping_is_held_by_an_open_escalation_until_the_prescriber_authorizes_release(
        app, client, session, course):
    prescriber, patient, prescription, pharmacist = course
    fill = dispensing.dispense(session, Actor.for_user(pharmacist), settings(app), prescription.id, quantity=16, **LOT)
    alert = escalations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                         patient_id=patient.id, reason=Reason.SOS, severity=Severity.URGENT)
    session.commit()
    pharmacy = token_for(client, pharmacist)
    package = {"carrier": "USPS", "tracking_number": "9400 1000 0001"}
    held = client.post(f"/api/v1/dispensings/{fill.id}/shipment", headers=pharmacy, json=package)
    assert held.status_code == 409 and set(held.json) == ERROR_SHAPE
    assert held.json["errors"] == {"release": [f"alert {alert.id} (SOS received) is not resolved"]}
    assert count(session, Shipment) == 0
    status = client.get(f"/api/v1/patients/{patient.id}/release", headers=pharmacy).json
    assert status["held"] is True and status["authorization"] is None

    authorized = client.post(f"/api/v1/patients/{patient.id}/release-authorizations",
                             headers=token_for(client, prescriber), json={"reason": "Spoke with the patient; safe."})
    assert authorized.status_code == 201 and authorized.json["blockers"] == held.json["errors"]["release"]
    assert client.get(f"/api/v1/patients/{patient.id}/release", headers=pharmacy).json["held"] is False
    allowed = client.post(f"/api/v1/dispensings/{fill.id}/shipment", headers=pharmacy, json=package)
    assert allowed.status_code == 201 and allowed.json["state"] == "in transit"
    assert allowed.json["release_override_id"] == authorized.json["id"]


def test_receipt_by_the_patient_puts_the_count_on_hand(app, client, session, course):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    headers = token_for(client, patient.user)
    response = client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=headers, json={"count": 16})
    assert response.status_code == 200
    assert response.json["state"] == "received" and response.json["received_count"] == 16
    stock = client.get(f"/api/v1/patients/{patient.id}/inventory", headers=headers).json
    assert stock["on_hand"] == 16 and stock["lots"] == [{"lot_number": "KX-2291", "on_hand": 16}]
    movement, = stock["movements"]
    assert movement["kind"] == "received" and movement["quantity"] == 16 and movement["shipment_id"] == shipment.id
    assert count(session, Escalation) == 0  # the count matched what was shipped


def test_receipt_of_another_patients_shipment_is_404(app, client, session, make, course):
    prescriber, _, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    stranger = make.patient(prescriber)
    response = client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=token_for(client, stranger.user),
                           json={"count": 16})
    assert response.status_code == 404 and response.json["message"] == "Not found."
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 1
    assert fresh(session, Shipment, shipment).received_at is None and count(session, InventoryMovement) == 0


@pytest.mark.parametrize("value", [-1, 100_000, "16", 15.5, True, None])
def test_implausible_or_non_integer_counts_are_422(app, client, session, course, value):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    response = client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=token_for(client, patient.user),
                           json={"count": value})
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == {"count"}
    assert fresh(session, Shipment, shipment).received_at is None and count(session, InventoryMovement) == 0


def test_a_receipt_count_short_of_what_was_shipped_raises_a_compliance_alert(app, client, session, course):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=token_for(client, patient.user), json={"count": 14})
    alert, = session.scalars(sa.select(Escalation))
    assert alert.reason is Reason.RECEIPT_DISCREPANCY and alert.severity is Severity.HIGH


def test_a_lost_shipment_alert_cannot_be_resolved_until_the_dea_notice_and_form_106_are_recorded(
        app, client, session, make, course):
    _, _, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    pharmacy, compliance = token_for(client, pharmacist), token_for(client, make.user(Role.COMPLIANCE))
    lost = client.post(f"/api/v1/shipments/{shipment.id}/lost", headers=pharmacy,
                       json={"note": "Carrier shows delivered; patient found no package."})
    assert lost.status_code == 200 and lost.json["state"] == "lost"
    alert_id = lost.json["lost_escalation_id"]
    resolve = {"outcome": "other", "note": "Filed with the DEA."}

    def resolved():
        return client.post(f"/api/v1/escalations/{alert_id}/resolve", headers=compliance, json=resolve)

    assert resolved().status_code == 422
    notice = client.post(f"/api/v1/shipments/{shipment.id}/loss-filings", headers=pharmacy,
                         json={"dea_notice_on": TODAY.isoformat()})
    assert notice.status_code == 200 and notice.json["dea_notice_on"] == "2026-11-20"
    still = resolved()
    assert still.status_code == 422 and "Form 106" in still.json["message"]
    filed = client.post(f"/api/v1/shipments/{shipment.id}/loss-filings", headers=compliance,
                        json={"form_106_filed_on": TODAY.isoformat(), "form_106_number": "tl-2026-0042"})
    assert filed.status_code == 200 and filed.json["form_106_number"] == "TL-2026-0042"
    done = resolved()
    assert done.status_code == 200 and done.json["state"] == "resolved"


def test_loss_filings_with_bad_dates_are_422_and_record_nothing(app, client, session, course):
    _, _, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    pharmacy = token_for(client, pharmacist)
    client.post(f"/api/v1/shipments/{shipment.id}/lost", headers=pharmacy, json={"note": "Never arrived."})
    for body, fields in (({"dea_notice_on": "yesterday-ish"}, {"dea_notice_on"}),
                         ({"dea_notice_on": (TODAY + timedelta(days=1)).isoformat()}, {"dea_notice_on"}),
                         ({"form_106_filed_on": TODAY.isoformat()}, {"form_106_number"}),
                         ({}, {"dea_notice_on"})):
        response = client.post(f"/api/v1/shipments/{shipment.id}/loss-filings", headers=pharmacy, json=body)
        assert response.status_code == 422 and set(response.json["errors"]) == fields, body
    after = fresh(session, Shipment, shipment)
    assert after.dea_notice_on is None and after.form_106_filed_on is None


def test_a_patient_reads_their_own_shipments_and_inventory_and_gets_404_for_anothers(
        app, client, session, make, course):
    prescriber, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    stranger = token_for(client, make.patient(prescriber).user)
    mine = client.get(f"/api/v1/patients/{patient.id}/shipments", headers=token_for(client, patient.user))
    assert [s["id"] for s in mine.json] == [shipment.id] and mine.json[0]["state"] == "delivered"
    for path in ("shipments", "inventory"):
        response = client.get(f"/api/v1/patients/{patient.id}/{path}", headers=stranger)
        assert response.status_code == 404 and set(response.json) == ERROR_SHAPE
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 2


def test_waste_is_witnessed_and_a_count_off_the_ledger_raises_a_low_alert(app, client, session, course):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    headers = token_for(client, patient.user)
    client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=headers, json={"count": 16})
    unwitnessed = client.post(f"/api/v1/patients/{patient.id}/inventory/waste", headers=headers,
                              json={"lot_number": "KX-2291", "quantity": 2, "witness_name": " "})
    assert unwitnessed.status_code == 422 and set(unwitnessed.json["errors"]) == {"witness_name"}
    wasted = client.post(f"/api/v1/patients/{patient.id}/inventory/waste", headers=headers,
                         json={"lot_number": "KX-2291", "quantity": 2, "witness_name": "Sam Sitter"})
    assert wasted.status_code == 201 and wasted.json["quantity"] == -2
    counted = client.post(f"/api/v1/patients/{patient.id}/inventory/count", headers=headers, json={"count": 13})
    assert counted.status_code == 201 and counted.json["reported_count"] == 13
    assert client.get(f"/api/v1/patients/{patient.id}/inventory", headers=headers).json["on_hand"] == 14
    alert, = session.scalars(sa.select(Escalation))
    assert alert.reason is Reason.INVENTORY_DISCREPANCY and alert.severity is Severity.LOW


def test_returns_are_recorded_by_the_pharmacist_not_the_patient(app, client, session, course):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=token_for(client, patient.user), json={"count": 16})
    returned = {"lot_number": "KX-2291", "quantity": 16, "note": "Course completed."}
    refused = client.post(f"/api/v1/patients/{patient.id}/inventory/returns", headers=token_for(client, patient.user),
                          json=returned)
    assert refused.status_code == 403
    pharmacy = token_for(client, pharmacist)
    too_many = client.post(f"/api/v1/patients/{patient.id}/inventory/returns", headers=pharmacy,
                           json={**returned, "quantity": 17})
    assert too_many.status_code == 422 and too_many.json["errors"] == {"quantity": ["Only 16 on hand in this lot."]}
    accepted = client.post(f"/api/v1/patients/{patient.id}/inventory/returns", headers=pharmacy, json=returned)
    assert accepted.status_code == 201 and accepted.json["kind"] == "returned"
    assert client.get(f"/api/v1/patients/{patient.id}/inventory", headers=pharmacy).json["on_hand"] == 0


def test_a_ledger_entry_is_corrected_by_a_new_entry_naming_it_never_edited(app, client, session, course):
    _, patient, prescription, pharmacist = course
    shipment = shipped(app, session, prescription, pharmacist)
    client.post(f"/api/v1/shipments/{shipment.id}/receipt", headers=token_for(client, patient.user), json={"count": 16})
    pharmacy = token_for(client, pharmacist)
    received, = client.get(f"/api/v1/patients/{patient.id}/inventory", headers=pharmacy).json["movements"]
    path = f"/api/v1/patients/{patient.id}/inventory/corrections"
    unknown = client.post(path, headers=pharmacy, json={"corrects_id": received["id"], "quantity": "-1", "note": ""})
    assert unknown.status_code == 422 and set(unknown.json["errors"]) == {"quantity"}
    by_patient = client.post(path, headers=token_for(client, patient.user),
                             json={"corrects_id": received["id"], "quantity": -1, "note": "I ate one"})
    assert by_patient.status_code == 403
    corrected = client.post(path, headers=pharmacy,
                            json={"corrects_id": received["id"], "quantity": -1, "note": "Counted 15 on re-check."})
    assert corrected.status_code == 201, corrected.json
    assert (corrected.json["kind"], corrected.json["quantity"], corrected.json["corrects_id"]) == (
        "correction", -1, received["id"])
    after = client.get(f"/api/v1/patients/{patient.id}/inventory", headers=pharmacy).json
    assert after["on_hand"] == 15 and after["movements"][-1] == received


def test_the_pharmacy_queue_shows_fills_left_and_unshipped_fills(app, client, session, course):
    _, _, prescription, pharmacist = course
    fill = dispensing.dispense(session, Actor.for_user(pharmacist), settings(app), prescription.id, quantity=16, **LOT)
    session.commit()
    item, = client.get("/api/v1/pharmacy/queue", headers=token_for(client, pharmacist)).json
    assert item["prescription"]["id"] == prescription.id and item["fills_used"] == 1 and item["fills_left"] == 2
    assert [f["id"] for f in item["unshipped"]] == [fill.id] and item["release_blockers"] == []
    assert len(audited(session, AuditAction.PHARMACY_QUEUE_READ)) == 1


def test_the_dispensing_api_is_documented(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/pharmacy/queue", "/api/v1/prescriptions/{prescription_id}/dispensings",
            "/api/v1/dispensings/{dispensing_id}/shipment", "/api/v1/shipments/{shipment_id}/delivered",
            "/api/v1/shipments/{shipment_id}/receipt", "/api/v1/shipments/{shipment_id}/lost",
            "/api/v1/shipments/{shipment_id}/loss-filings", "/api/v1/patients/{patient_id}/shipments",
            "/api/v1/patients/{patient_id}/inventory", "/api/v1/patients/{patient_id}/inventory/count",
            "/api/v1/patients/{patient_id}/inventory/waste", "/api/v1/patients/{patient_id}/inventory/returns",
            "/api/v1/patients/{patient_id}/inventory/corrections", "/api/v1/patients/{patient_id}/release", "/api/v1/patients/{patient_id}/release-authorizations"
            } <= set(paths)


def test_the_prescription_record_gives_the_pharmacist_the_mailing_address(client, session, course):
    _, patient, prescription, pharmacist = course
    response = client.get(f"/api/v1/prescriptions/{prescription.id}", headers=token_for(client, pharmacist))
    assert response.status_code == 200, response.json
    assert response.json["mailing_address"].startswith(patient.address_line1)
    assert patient.postal_code in response.json["mailing_address"]
