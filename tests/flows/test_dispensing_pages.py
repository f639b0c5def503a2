"""SPEC §3 steps 4–5 and §10 on the web: the pharmacist's queue and fill page (dispense, ship,
deliver, loss and DEA filings, returns), staged release held and authorized by the prescriber, and
the patient's receipt with the count. Refusals are audited; bad input changes nothing."""
import re
from datetime import date

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.inventory import on_hand, on_hand_by_lot
from telehealth.dispensing.models import Dispensing, InventoryMovement, ReleaseOverride, Shipment
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings, raise_escalation
from telehealth.escalations.rules import Reason, Severity
from tests.conftest import csrf_token, log_in
from tests.flows.courses import events, post, prescribed, prescriber_with_dea, settings, shipped, text_of

LOT = {"lot_number": "kl-2026-0415", "lot_expiry": "2027-10-31"}


@pytest.fixture
def course(make, session):
    prescriber = prescriber_with_dea(make, session)
    patient = make.patient(prescriber, name="Gale Harper")
    pharmacist = make.user(Role.PHARMACIST, name="Paula Pharmacist")
    return prescriber, patient, pharmacist, prescribed(session, prescriber, patient)


def rows(session, model) -> list:
    session.expire_all()
    return list(session.scalars(sa.select(model).order_by(model.id)))


def test_the_pharmacists_start_page_is_the_queue(client, course):
    *_, pharmacist, prescription = course
    log_in(client, pharmacist.email)
    assert client.get("/").headers["Location"] == "/pharmacy"
    response = client.get("/pharmacy")
    assert 'href="/pharmacy">Pharmacy</a>' in response.get_data(as_text=True)
    shown = text_of(response)
    assert f"Prescription {prescription.id} Gale Harper 100 mg sublingual lozenge, 8 per fill 3 of 3" in shown


def test_the_fill_page_shows_the_schedule_iii_record(client, course):
    prescriber, patient, pharmacist, prescription = course
    log_in(client, pharmacist.email)
    shown = text_of(client.get(f"/pharmacy/prescriptions/{prescription.id}"))
    for words in ("Patient Gale Harper", f"Address {patient.address_line1}, Springfield, IL 62701",
                  "Drug ketamine HCl", "Strength 100 mg", "Dosage form sublingual lozenge",
                  "Quantity 8 per fill, 2 refill(s)", "Directions Dissolve one lozenge under the tongue",
                  "Prescriber Dana Prescriber, DEA AB1234563", "Issued 2026-11-20", "Dispense fill 1"):
        assert words in shown


def test_a_pharmacist_dispenses_and_ships_from_the_queue(client, session, course):
    *_, patient, pharmacist, prescription = course
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    assert f'href="{page}"' in client.get("/pharmacy").get_data(as_text=True)
    response = post(client, page, f"{page}/fills", quantity="8", **LOT)
    assert response.status_code == 302 and response.headers["Location"] == page
    fill, = rows(session, Dispensing)
    assert (fill.fill_number, fill.quantity, fill.lot_number) == (1, 8, "KL-2026-0415")
    assert fill.pharmacist_id == pharmacist.id
    assert "fill 1 (8, lot KL-2026-0415)" in text_of(client.get("/pharmacy"))  # waiting to ship
    response = post(client, page, f"/pharmacy/fills/{fill.id}/ship", carrier="USPS",
                    tracking_number="9400 1000 0000 0000 0042")
    assert response.status_code == 302
    shipment, = rows(session, Shipment)
    assert shipment.state == "in transit" and shipment.shipped_by_id == pharmacist.id
    shown = text_of(client.get(page))
    assert "Shipped by USPS, tracking 9400 1000 0000 0000 0042." in shown
    assert "Fri 20 Nov 2026, 09:00 CST" in shown  # dispensed and shipped, in the patient's time zone
    assert "Dispense fill 2" in shown


def test_the_prescriber_of_a_prescription_cannot_dispense_it(client, session, course):
    prescriber, _, _, prescription = course
    log_in(client, prescriber.email)
    response = client.post(f"/pharmacy/prescriptions/{prescription.id}/fills",
                           data={"csrf_token": csrf_token(client, "/account"), "quantity": "8", **LOT})
    assert response.status_code == 403
    assert rows(session, Dispensing) == []
    refusal, = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == prescriber.id and refusal.details["path"].endswith("/fills")


def test_an_expired_lot_re_renders_with_the_field_error_and_nothing_is_written(client, session, course):
    *_, pharmacist, prescription = course
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    response = post(client, page, f"{page}/fills", quantity="9", lot_number="KL-1", lot_expiry="2026-11-20")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Lot expired (or expires today, 2026-11-20): it cannot be dispensed." in html
    assert "At most 8 per fill on this prescription." in html
    assert 'value="KL-1"' in html and 'class="field invalid"' in html
    assert rows(session, Dispensing) == [] and events(session, AuditAction.DISPENSED) == []


def test_a_date_that_is_not_a_date_is_400_and_nothing_is_written(client, session, course):
    *_, pharmacist, prescription = course
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    response = post(client, page, f"{page}/fills", quantity="8", lot_number="KL-1", lot_expiry="next year")
    assert response.status_code == 400 and "Not a valid date value." in response.get_data(as_text=True)
    assert rows(session, Dispensing) == []


def test_a_held_package_ships_only_after_the_prescriber_authorizes_its_release(app, client, session, course):
    prescriber, patient, pharmacist, prescription = course
    alert = raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                             patient_id=patient.id, reason=Reason.SOS, severity=Severity.URGENT)
    fill = dispensing.dispense(session, Actor.for_user(pharmacist), settings(app), prescription.id, quantity=8,
                               lot_number="KL-1", lot_expiry=date(2027, 1, 1))
    session.commit()
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    assert f"held alert {alert.id} (SOS received) is not resolved" in text_of(client.get("/pharmacy"))
    response = post(client, page, f"/pharmacy/fills/{fill.id}/ship", carrier="USPS", tracking_number="9400 0001")
    assert response.status_code == 409
    shown = text_of(response)
    assert "Staged release: this package is held until a prescriber authorizes it." in shown
    assert f"alert {alert.id} (SOS received) is not resolved" in shown
    assert rows(session, Shipment) == []

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    log_in(client, prescriber.email)
    record = f"/patients/{patient.id}"
    assert "held The next package may not leave yet" in text_of(client.get(record))
    assert post(client, record, f"{record}/release", reason="").status_code == 422
    assert rows(session, ReleaseOverride) == []
    assert post(client, record, f"{record}/release", reason="Spoke with Gale; the SOS was a test.").status_code == 302
    assert "release authorized by Dana Prescriber" in text_of(client.get(record))

    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    log_in(client, pharmacist.email)
    assert post(client, page, f"/pharmacy/fills/{fill.id}/ship", carrier="USPS",
                tracking_number="9400 0001").status_code == 302
    shipment, = rows(session, Shipment)
    assert shipment.release_override_id == rows(session, ReleaseOverride)[0].id


def test_a_patient_confirms_receipt_on_the_web_and_on_hand_shows_the_count(app, client, session, course):
    *_, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription, delivered=True)
    log_in(client, patient.user.email)
    page = text_of(client.get("/me"))
    assert "Package %d: delivered" % shipment.id in page and "0 lozenges at home" in page
    response = post(client, "/me", f"/me/shipments/{shipment.id}/receipt", count="8")
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    assert on_hand(session, patient.id) == 8
    shown = text_of(client.get("/me"))
    assert "Thank you: 8 counted and recorded." in shown and "You have 8 lozenges at home" in shown
    assert "You counted 8 on Fri 20 Nov 2026, 09:00 CST" in shown and "Confirm receipt" not in shown
    assert rows(session, Escalation) == []  # the count matches what was shipped


def test_a_count_that_is_not_a_number_re_renders_with_the_field_error(app, client, session, course):
    *_, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription)
    log_in(client, patient.user.email)
    response = post(client, "/me", f"/me/shipments/{shipment.id}/receipt", count="eight")
    assert response.status_code == 422
    assert "Give the number of items counted, a whole number from 0 to 500." in response.get_data(as_text=True)
    assert rows(session, InventoryMovement) == [] and rows(session, Shipment)[0].received_at is None


def test_receipt_for_someone_elses_shipment_is_404(app, client, session, make, course):
    prescriber, _, pharmacist, _ = course
    other = make.patient(prescriber, name="Hale Other")
    theirs = shipped(app, session, pharmacist, prescribed(session, prescriber, other))
    me = make.patient(prescriber, name="Ivy Reader")
    log_in(client, me.user.email)
    response = post(client, "/me", f"/me/shipments/{theirs.id}/receipt", count="8")
    assert response.status_code == 404 and "Hale Other" not in response.get_data(as_text=True)
    assert rows(session, Shipment)[0].received_at is None and on_hand(session, other.id) == 0
    assert events(session, AuditAction.ACCESS_REFUSED)[0].actor_user_id == me.user.id


def test_a_receipt_post_without_a_csrf_token_is_refused(app, client, session, course):
    *_, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription)
    log_in(client, patient.user.email)
    assert client.post(f"/me/shipments/{shipment.id}/receipt", data={"count": "8"}).status_code == 400
    assert rows(session, Shipment)[0].received_at is None


def test_a_patient_cannot_open_the_pharmacy(client, session, course):
    _, patient, _, prescription = course
    log_in(client, patient.user.email)
    assert client.get("/pharmacy").status_code == 403
    assert client.get(f"/pharmacy/prescriptions/{prescription.id}").status_code == 403
    assert len(events(session, AuditAction.ACCESS_REFUSED)) == 2


def test_a_package_delivered_then_lost_gets_its_dea_filings_recorded(app, client, session, clock, course):
    *_, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription)
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    assert post(client, page, f"/shipments/{shipment.id}/delivered").status_code == 302
    again = post(client, page, f"/shipments/{shipment.id}/delivered")
    assert again.status_code == 409 and "is delivered, not in transit" in text_of(again)
    assert post(client, page, f"/shipments/{shipment.id}/lost", note="").status_code == 422
    assert rows(session, Shipment)[0].lost_reported_at is None
    assert post(client, page, f"/shipments/{shipment.id}/lost", note="Porch theft reported.").status_code == 302
    lost, = rows(session, Shipment)
    alert = session.get(Escalation, lost.lost_escalation_id)
    assert lost.state == "lost" and alert.reason is Reason.SHIPMENT_LOST
    clock.advance(days=1)
    response = post(client, page, f"/shipments/{shipment.id}/loss-filings", dea_notice_on="2026-11-21",
                    form_106_filed_on="2026-11-21", form_106_number="")
    assert response.status_code == 422 and "Give the Form 106 date and its number together." in text_of(response)
    assert rows(session, Shipment)[0].dea_notice_on is None
    assert post(client, page, f"/shipments/{shipment.id}/loss-filings", dea_notice_on="2026-11-21",
                form_106_filed_on="2026-11-21", form_106_number="f106-0042").status_code == 302
    filed, = rows(session, Shipment)
    assert filed.dea_notice_on == date(2026, 11, 21) and filed.form_106_number == "F106-0042"
    assert "Form 106: 2026-11-21, no. F106-0042" in text_of(client.get(page))


def test_compliance_records_the_dea_filings_of_a_lost_package_from_the_patient_page(
        app, client, session, make, clock, course):
    _, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription)
    dispensing.report_lost(session, Actor.for_user(pharmacist), settings(app), shipment.id, "Never arrived.")
    session.commit()
    officer = make.user(Role.COMPLIANCE, name="Cora Compliance")
    log_in(client, officer.email)
    record = f"/patients/{patient.id}"
    assert "Record the DEA filings of package" in text_of(client.get(record))
    clock.advance(days=1)
    bad = post(client, record, f"/shipments/{shipment.id}/loss-filings", dea_notice_on="2031-01-01")
    assert bad.status_code == 422 and rows(session, Shipment)[0].dea_notice_on is None
    response = post(client, record, f"/shipments/{shipment.id}/loss-filings", dea_notice_on="2026-11-21",
                    form_106_filed_on="2026-11-21", form_106_number="F106-0077")
    assert response.status_code == 302 and response.headers["Location"].startswith(record)
    filed, = rows(session, Shipment)
    assert filed.dea_notice_on == date(2026, 11, 21) and filed.form_106_number == "F106-0077"


def test_a_prescriber_reports_a_package_lost_from_the_patient_page(app, client, session, course):
    prescriber, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription)
    log_in(client, prescriber.email)
    record = f"/patients/{patient.id}"
    assert "in transit" in text_of(client.get(record))
    response = post(client, record, f"/shipments/{shipment.id}/lost", note="Gale says it never came.")
    assert response.status_code == 302 and response.headers["Location"] == record
    assert rows(session, Shipment)[0].state == "lost"
    assert "reported lost. An urgent compliance alert tracks" in text_of(client.get(record))


def test_a_pharmacist_records_a_return_from_the_patient_ledger(app, client, session, course):
    *_, patient, pharmacist, prescription = course
    shipment = shipped(app, session, pharmacist, prescription, delivered=True)
    dispensing.confirm_receipt(session, Actor.for_user(patient.user), settings(app), patient_id=patient.id,
                               count=8, channel="web", shipment_id=shipment.id)
    session.commit()
    log_in(client, pharmacist.email)
    page = f"/pharmacy/prescriptions/{prescription.id}"
    too_many = post(client, page, f"{page}/returns", lot_number="KL-2026-0415", quantity="9")
    assert too_many.status_code == 422 and "Only 8 on hand in this lot." in text_of(too_many)
    response = post(client, page, f"{page}/returns", lot_number="KL-2026-0415", quantity="3", note="Course ended.")
    assert response.status_code == 302
    assert on_hand_by_lot(session, patient.id) == {"KL-2026-0415": 5}
    assert "Return recorded: 3 from lot KL-2026-0415." in text_of(client.get(page))


def test_pages_with_a_form_per_row_keep_every_element_id_unique(app, client, session, make, course):
    """Labels point at their own field, on pages that show the same form once per package."""
    prescriber, patient, pharmacist, prescription = course
    for _ in range(2):
        shipped(app, session, pharmacist, prescription)
    dispensing.dispense(session, Actor.for_user(pharmacist), settings(app), prescription.id, quantity=8,
                        lot_number="KL-2", lot_expiry=date(2027, 1, 1))
    session.commit()
    for user, page in ((pharmacist, f"/pharmacy/prescriptions/{prescription.id}"),
                       (prescriber, f"/patients/{patient.id}"), (patient.user, "/me")):
        log_in(client, user.email)
        ids = re.findall(r'\sid="([^"]+)"', client.get(page).get_data(as_text=True))
        assert len(ids) > 5 and len(ids) == len(set(ids)), (page, sorted(i for i in ids if ids.count(i) > 1))
        client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
