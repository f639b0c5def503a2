"""SPEC §3 steps 1–3 and §10 on the web: the prescriber screens, overrides, issues and stops
prescriptions and manages sitters from the patient page; the patient reads their prescription in
plain words and adds a sitter; bad input re-renders the form with its errors and changes nothing."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role, Sitter
from telehealth.audit.models import AuditAction
from telehealth.messaging.models import Message
from telehealth.prescriptions.models import Prescription, PrescriptionStatus, Screening
from tests.conftest import log_in
from tests.flows.courses import events, post, prescribed, prescriber_with_dea, text_of


@pytest.fixture
def team(make, session):
    prescriber = prescriber_with_dea(make, session)
    patient = make.patient(prescriber, name="Gale Harper")
    return prescriber, patient


def screenings(session, patient) -> list[Screening]:
    session.expire_all()
    return list(session.scalars(sa.select(Screening).where(Screening.patient_id == patient.id)))


def prescriptions(session, patient) -> list[Prescription]:
    session.expire_all()
    return list(session.scalars(sa.select(Prescription).where(Prescription.patient_id == patient.id)))


SCREENING = {"baseline_systolic": "128", "baseline_diastolic": "82", "phq9": "17", "gad7": "12"}
PRESCRIPTION = {"strength_mg": "100", "lozenges_per_dose": "1", "quantity": "8", "refills": "2",
                "doses_in_series": "6", "min_hours_between_doses": "72", "max_doses_per_7_days": "2",
                "directions": "One lozenge under the tongue, sitter present.", "status": "active"}


def test_a_screening_with_a_contraindication_shows_prescribing_blocked(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    response = post(client, page, f"{page}/screenings", contraindications=["heart_disease", "psychosis_or_mania"],
                    **SCREENING)
    assert response.status_code == 302 and response.headers["Location"] == page
    screening, = screenings(session, patient)
    assert screening.contraindications == ["psychosis_or_mania", "heart_disease"]
    assert screening.baseline_systolic == 128 and screening.phq9 == 17
    shown = text_of(client.get(page))
    assert "Contraindications found: prescribing is blocked" in shown
    assert "psychosis or mania, heart disease" in shown and "128/82 mmHg" in shown
    assert "blocked until a prescriber records an override" in shown
    assert "Fri 20 Nov 2026, 09:00 CST" in shown  # recorded, in the patient's time zone


def test_an_override_with_a_reason_clears_prescribing_and_is_audited(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    post(client, page, f"{page}/screenings", contraindications=["heart_disease"], **SCREENING)
    screening, = screenings(session, patient)
    empty = post(client, page, f"/screenings/{screening.id}/override", reason="  ")
    assert empty.status_code == 422 and "an override needs a reason" in text_of(empty)
    assert screenings(session, patient)[0].override_at is None
    response = post(client, page, f"/screenings/{screening.id}/override", reason="Cardiology cleared her in May.")
    assert response.status_code == 302
    assert screenings(session, patient)[0].clears_prescribing
    assert len(events(session, AuditAction.SCREENING_OVERRIDDEN)) == 1
    shown = text_of(client.get(page))
    assert "cleared" in shown and "Cardiology cleared her in May." in shown


def test_an_out_of_range_screening_re_renders_with_the_field_errors_and_records_nothing(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    response = post(client, page, f"{page}/screenings", **{**SCREENING, "baseline_systolic": "12O", "phq9": "40"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Give the systolic pressure in mmHg, a whole number from 60 to 260." in html
    assert "Give the PHQ-9 score, a whole number from 0 to 27." in html
    assert 'value="12O"' in html  # what was typed is kept
    assert screenings(session, patient) == []


def test_a_prescriber_issues_a_prescription_from_the_patient_page(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    post(client, page, f"{page}/screenings", **SCREENING)
    response = post(client, page, f"{page}/prescriptions", **PRESCRIPTION)
    assert response.status_code == 302
    prescription, = prescriptions(session, patient)
    assert prescription.quantity == 8 and prescription.refills == 2 and prescription.prescriber_id == prescriber.id
    assert prescription.prescriber_dea_number == "AB1234563" and prescription.status is PrescriptionStatus.ACTIVE
    shown = text_of(client.get(page))
    assert f"Prescription {prescription.id} issued (active)" in shown
    assert "ketamine HCl 100 mg sublingual lozenge: 1 per dose, 6 doses in the series" in shown
    assert "(DEA AB1234563)" in shown and "Not dispensed yet." in shown


def test_issuing_before_a_screening_clears_prescribing_is_422_and_issues_nothing(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    post(client, page, f"{page}/screenings", contraindications=["pregnancy_or_breastfeeding"], **SCREENING)
    response = post(client, page, f"{page}/prescriptions", **{**PRESCRIPTION, "refills": "6"})
    assert response.status_code == 422
    shown = text_of(response)
    assert "block prescribing: pregnancy or breastfeeding" in shown
    assert "Schedule III allows at most 5 refills." in shown
    assert prescriptions(session, patient) == []


def test_suspending_needs_a_note_then_shows_the_prescription_suspended(client, session, team):
    prescriber, patient = team
    prescription = prescribed(session, prescriber, patient)
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    action = f"/prescriptions/{prescription.id}/status"
    response = post(client, page, action, status="suspended", note="")
    assert response.status_code == 422 and "a note is required" in text_of(response)
    assert prescriptions(session, patient)[0].status is PrescriptionStatus.ACTIVE
    assert post(client, page, action, status="suspended", note="Blood pressure too high today.").status_code == 302
    after, = prescriptions(session, patient)
    assert after.status is PrescriptionStatus.SUSPENDED and after.status_note == "Blood pressure too high today."
    shown = text_of(client.get(page))
    assert f"Prescription {prescription.id} is now suspended." in shown and "Status note: Blood pressure" in shown


def test_cancelling_a_cancelled_prescription_is_409_and_changes_nothing(client, session, team):
    prescriber, patient = team
    prescription = prescribed(session, prescriber, patient)
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    action = f"/prescriptions/{prescription.id}/status"
    post(client, page, action, status="cancelled", note="Changed course.")
    response = post(client, page, action, status="cancelled", note="Again.")
    assert response.status_code == 409 and "The prescription is already cancelled." in text_of(response)
    assert prescriptions(session, patient)[0].status_note == "Changed course."


def test_another_prescribers_patient_is_404_and_the_refusal_is_audited(client, session, make, team):
    prescriber, _ = team
    theirs = make.patient(make.user(Role.PRESCRIBER), name="Ivy Elsewhere")
    log_in(client, prescriber.email)
    response = post(client, "/patients", f"/patients/{theirs.id}/screenings", **SCREENING)
    assert response.status_code == 404 and "Ivy Elsewhere" not in response.get_data(as_text=True)
    assert screenings(session, theirs) == []
    refusal, = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == prescriber.id and refusal.patient_id == theirs.id


def test_compliance_reads_the_patient_page_without_any_form(client, session, make, team):
    prescriber, patient = team
    prescribed(session, prescriber, patient)
    log_in(client, make.user(Role.COMPLIANCE).email)
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "ketamine HCl 100 mg" in html and "Nothing holds the next package." in html
    assert 'method="post"' not in html.split("</header>", 1)[1]  # only the log-out form, in the header


def test_a_prescriber_adds_a_sitter_and_a_code_is_texted_to_them(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    response = post(client, page, f"{page}/sitters", full_name="Robin Harper", phone="(201) 555-0177",
                    relationship_to_patient="spouse")
    assert response.status_code == 302
    sitter, = session.scalars(sa.select(Sitter).where(Sitter.patient_id == patient.id))
    assert sitter.phone == "+12015550177" and sitter.phone_verified_at is None
    code, = session.scalars(sa.select(Message).where(Message.to_phone == "+12015550177"))
    assert code.template == "sitter_code"
    shown = text_of(client.get(page))
    assert "Robin Harper is added. We texted a code" in shown and "waiting for the code to be texted back" in shown
    assert post(client, page, f"/sitters/{sitter.id}/code").status_code == 302
    assert len(list(session.scalars(sa.select(Message).where(Message.to_phone == "+12015550177")))) == 2
    assert post(client, page, f"/sitters/{sitter.id}/deactivate").status_code == 302
    session.expire_all()
    assert session.get(Sitter, sitter.id).active is False


def test_a_sitter_without_a_name_or_a_good_phone_re_renders_with_the_errors(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    page = f"/patients/{patient.id}"
    response = post(client, page, f"{page}/sitters", full_name=" ", phone="12", relationship_to_patient="friend")
    assert response.status_code == 422
    shown = text_of(response)
    assert "Enter the sitter's name." in shown and 'value="friend"' in response.get_data(as_text=True)
    assert list(session.scalars(sa.select(Sitter))) == []
    assert list(session.scalars(sa.select(Message))) == []


def test_a_patient_reads_their_prescription_in_plain_words_and_adds_a_sitter(client, session, team):
    prescriber, patient = team
    prescribed(session, prescriber, patient)
    log_in(client, patient.user.email)
    shown = text_of(client.get("/me"))
    assert "Ketamine HCl 100 mg sublingual lozenges" in shown
    assert "Take 1 lozenge at each session, with your sitter with you. 6 sessions in all, at least 72 hours apart" \
        in shown
    assert "Prescribed by Dana Prescriber on 20 November 2026." in shown and "0 lozenges at home" in shown
    response = post(client, "/me", f"/patients/{patient.id}/sitters", full_name="Sky Harper",
                    phone="+12015550178", relationship_to_patient="sister")
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    assert "Sky Harper" in text_of(client.get("/me"))


def test_a_patient_cannot_screen_or_prescribe(client, session, team):
    _, patient = team
    log_in(client, patient.user.email)
    page = f"/patients/{patient.id}"
    assert post(client, "/me", f"{page}/screenings", **SCREENING).status_code == 403
    assert post(client, "/me", f"{page}/prescriptions", **PRESCRIPTION).status_code == 403
    assert screenings(session, patient) == [] and prescriptions(session, patient) == []
    assert len(events(session, AuditAction.ACCESS_REFUSED)) == 2


def test_a_screening_post_without_a_csrf_token_is_refused(client, session, team):
    prescriber, patient = team
    log_in(client, prescriber.email)
    response = client.post(f"/patients/{patient.id}/screenings", data=SCREENING)
    assert response.status_code == 400 and "CSRF token is missing" in response.get_data(as_text=True)
    assert screenings(session, patient) == []
