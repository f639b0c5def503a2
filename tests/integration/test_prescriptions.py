"""Screening and prescribing through the database (SPEC §3, §10): contraindications block
prescribing until overridden with a reason, Schedule III terms, the DEA number, status changes,
and who may read what, every step audited."""
from datetime import date, datetime, timezone

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import PatientStatus, Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.prescriptions import operations
from telehealth.prescriptions.models import Prescription, PrescriptionStatus, Screening
from telehealth.prescriptions.operations import PrescribingSettings

SYSTEM = Actor.system("test")
# Invented DEA numbers with good check digits (see tests/unit/test_prescription_rules.py).
DEA = "AB1234563"
BACKUP_DEA = "FM2345672"
CLEAR = dict(contraindications=[], baseline_systolic=124, baseline_diastolic=78, phq9=17, gad7=11)
TERMS = dict(strength_mg=100, lozenges_per_dose=2, quantity=16, refills=2, doses_in_series=8,
             directions="Dissolve 2 lozenges under the tongue with your sitter present.",
             min_hours_between_doses=72, max_doses_per_7_days=2)


@pytest.fixture
def team(make, session):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    backup = make.user(Role.PRESCRIBER, name="Eli Backup")
    operations.set_dea_number(session, SYSTEM, prescriber, DEA)
    operations.set_dea_number(session, SYSTEM, backup, BACKUP_DEA)
    session.commit()
    patient = make.patient(prescriber, backup, name="Gale Harper")
    return prescriber, backup, patient


@pytest.fixture
def prescriber(team):
    return Actor.for_user(team[0])


@pytest.fixture
def patient(team):
    return team[2]


def as_(user) -> Actor:
    return Actor.for_user(user)


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def audit(session, action: AuditAction) -> list[AuditEvent]:
    session.flush()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)
                                .order_by(AuditEvent.id)))


def screen(session, actor, patient, **changes):
    screening = operations.record_screening(session, actor, patient.id, **{**CLEAR, **changes})
    session.commit()
    return screening


def issue(session, actor, patient, **changes):
    prescription = operations.issue_prescription(session, actor, patient.id, **{**TERMS, **changes})
    session.commit()
    return prescription


def refused(call, *args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    return caught.value.errors


# --- screening blocks, an override with a reason clears ----------------------------------

def test_a_clear_screening_lets_the_prescriber_issue_a_prescription(session, prescriber, patient):
    screening = screen(session, prescriber, patient)
    prescription = issue(session, prescriber, patient)
    assert prescription.status is PrescriptionStatus.ACTIVE and prescription.screening_id == screening.id
    assert (prescription.drug, prescription.dosage_form) == ("ketamine HCl", "sublingual lozenge")
    assert prescription.issued_on == date(2026, 11, 20) and prescription.expires_on == date(2027, 5, 21)
    [event] = audit(session, AuditAction.PRESCRIPTION_ISSUED)
    assert event.patient_id == patient.id and event.object_id == str(prescription.id)


def test_the_prescription_keeps_the_dea_number_it_was_issued_under(session, prescriber, patient, team):
    screen(session, prescriber, patient)
    prescription = issue(session, prescriber, patient)
    operations.set_dea_number(session, SYSTEM, team[0], "BB1111119")  # 1+1+1 + 2×(1+1+1) = 9
    session.commit()
    assert prescription.prescriber_dea_number == DEA


def test_without_a_screening_nothing_can_be_prescribed(session, prescriber, patient):
    assert "Record a screening first" in refused(operations.issue_prescription, session, prescriber, patient.id,
                                                 **TERMS)["screening"][0]


def test_a_contraindication_blocks_prescribing_and_says_how_to_clear_it(session, prescriber, patient):
    screen(session, prescriber, patient, contraindications=["uncontrolled_hypertension"])
    [message] = refused(operations.issue_prescription, session, prescriber, patient.id, **TERMS)["screening"]
    assert "uncontrolled hypertension" in message and "override with a reason" in message
    assert count(session, Prescription) == 0


def test_an_override_with_a_reason_clears_prescribing_and_is_audited_without_its_text(session, prescriber,
                                                                                        patient, team):
    reason = "Hypertension now controlled on amlodipine; home BP log reviewed."
    screening = screen(session, prescriber, patient, contraindications=["uncontrolled_hypertension"],
                       override_reason=reason)
    assert screening.override_by_id == team[0].id and screening.override_at == datetime(2026, 11, 20, 15,
                                                                                          tzinfo=timezone.utc)
    [event] = audit(session, AuditAction.SCREENING_OVERRIDDEN)
    assert event.details == {"contraindications": ["uncontrolled_hypertension"], "reason_length": len(reason)}
    assert issue(session, prescriber, patient).screening_id == screening.id


def test_an_override_recorded_later_clears_prescribing(session, prescriber, patient):
    screening = screen(session, prescriber, patient, contraindications=["heart_disease"])
    operations.override_screening(session, prescriber, screening.id, "Cardiology cleared her in writing.")
    session.commit()
    assert len(audit(session, AuditAction.SCREENING_OVERRIDDEN)) == 1
    assert issue(session, prescriber, patient).status is PrescriptionStatus.ACTIVE


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_blank_override_reason_is_refused_and_nothing_is_written(session, prescriber, patient, reason):
    before = count(session, AuditEvent)
    errors = refused(operations.record_screening, session, prescriber, patient.id,
                     **{**CLEAR, "contraindications": ["heart_disease"]}, override_reason=reason)
    assert "override_reason" in errors
    assert count(session, Screening) == 0 and count(session, AuditEvent) == before


def test_a_blank_reason_does_not_override_a_screening_later(session, prescriber, patient):
    screening = screen(session, prescriber, patient, contraindications=["heart_disease"])
    assert "override_reason" in refused(operations.override_screening, session, prescriber, screening.id, " ")
    assert screening.override_at is None and not screening.clears_prescribing


def test_a_screening_is_overridden_once(session, prescriber, patient):
    screening = screen(session, prescriber, patient, contraindications=["heart_disease"],
                       override_reason="Cleared by cardiology.")
    with pytest.raises(Conflict, match="already overridden"):
        operations.override_screening(session, prescriber, screening.id, "Again.")


def test_a_screening_with_nothing_found_has_nothing_to_override(session, prescriber, patient):
    assert "override_reason" in refused(operations.record_screening, session, prescriber, patient.id, **CLEAR,
                                        override_reason="Just in case.")
    screening = screen(session, prescriber, patient)
    with pytest.raises(Conflict, match="Nothing to override"):
        operations.override_screening(session, prescriber, screening.id, "Just in case.")


def test_a_newer_screening_supersedes_an_overridden_one(session, prescriber, patient, clock):
    screen(session, prescriber, patient, contraindications=["heart_disease"], override_reason="Cleared.")
    clock.advance(days=1)
    screen(session, prescriber, patient, contraindications=["substance_use_disorder"])
    assert "substance use disorder" in refused(operations.issue_prescription, session, prescriber, patient.id,
                                               **TERMS)["screening"][0]


def test_only_the_screening_in_force_can_be_overridden(session, prescriber, patient, clock):
    old = screen(session, prescriber, patient, contraindications=["heart_disease"])
    clock.advance(days=1)
    screen(session, prescriber, patient, contraindications=["heart_disease"])
    with pytest.raises(Conflict, match="newer screening"):
        operations.override_screening(session, prescriber, old.id, "Cleared by cardiology.")


def test_a_screening_with_bad_values_writes_nothing(session, prescriber, patient):
    before = count(session, AuditEvent)
    errors = refused(operations.record_screening, session, prescriber, patient.id,
                     **{**CLEAR, "contraindications": ["vertigo"], "baseline_systolic": 400, "gad7": 30})
    assert set(errors) == {"contraindications", "baseline_systolic", "gad7"}
    assert count(session, Screening) == 0 and count(session, AuditEvent) == before


def test_recording_a_screening_is_audited_with_what_it_found(session, prescriber, patient):
    screening = screen(session, prescriber, patient, contraindications=["heart_disease"])
    [event] = audit(session, AuditAction.SCREENING_RECORDED)
    assert (event.object_id, event.patient_id) == (str(screening.id), patient.id)
    assert event.details == {"contraindications": ["heart_disease"], "blocks_prescribing": True}


# --- who may screen and prescribe --------------------------------------------------------

@pytest.mark.parametrize("role, hidden", [(Role.PRESCRIBER, True), (Role.PHARMACIST, True), (Role.ADMIN, True),
                                          (Role.COMPLIANCE, False)])
def test_only_the_care_team_screens_and_prescribes(session, make, prescriber, patient, role, hidden):
    screen(session, prescriber, patient)
    outsider = as_(make.user(role))
    for call, kwargs in ((operations.record_screening, CLEAR), (operations.issue_prescription, TERMS)):
        with pytest.raises(NotAllowed) as caught:
            call(session, outsider, patient.id, **kwargs)
        assert caught.value.hide_existence is hidden


def test_the_patient_cannot_screen_or_prescribe_for_themselves(session, patient):
    with pytest.raises(NotAllowed) as caught:
        operations.record_screening(session, as_(patient.user), patient.id, **CLEAR)
    assert not caught.value.hide_existence


def test_the_backup_prescriber_may_prescribe_under_their_own_dea_number(session, prescriber, patient, team):
    screen(session, prescriber, patient)
    prescription = issue(session, as_(team[1]), patient)
    assert (prescription.prescriber_id, prescription.prescriber_dea_number) == (team[1].id, BACKUP_DEA)


def test_an_unknown_patient_is_not_found(session, prescriber):
    with pytest.raises(NotFound):
        operations.record_screening(session, prescriber, 999_999, **CLEAR)


# --- issuing -----------------------------------------------------------------------------

def test_a_prescriber_without_a_dea_number_cannot_prescribe(session, make):
    prescriber = make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber)
    screen(session, as_(prescriber), patient)
    assert refused(operations.issue_prescription, session, as_(prescriber), patient.id, **TERMS)["prescriber"] == [
        "Record your DEA number first: a prescription carries it."]


def test_every_problem_is_reported_together_and_nothing_is_written(session, prescriber, patient):
    screen(session, prescriber, patient, contraindications=["heart_disease"])
    before = count(session, AuditEvent)
    errors = refused(operations.issue_prescription, session, prescriber, patient.id,
                     **{**TERMS, "refills": 6, "quantity": 1}, issued_on=date(2026, 12, 1), status="completed")
    assert set(errors) == {"refills", "quantity", "issued_on", "status", "screening"}
    assert count(session, Prescription) == 0 and count(session, AuditEvent) == before


def test_a_discharged_patient_gets_no_new_prescription(session, prescriber, patient):
    screen(session, prescriber, patient)
    patient.status = PatientStatus.DISCHARGED
    session.commit()
    assert "patient" in refused(operations.issue_prescription, session, prescriber, patient.id, **TERMS)


def test_the_fill_window_comes_from_the_clinics_settings(session, app, prescriber, patient):
    screen(session, prescriber, patient)
    settings = PrescribingSettings.from_config({**app.config, "SCHEDULE_III_FILL_WINDOW_DAYS": 90})
    prescription = issue(session, prescriber, patient, window_days=settings.fill_window_days,
                         issued_on=date(2026, 11, 15))
    assert prescription.expires_on == date(2027, 2, 13)


def test_a_prescription_can_start_as_a_draft(session, prescriber, patient):
    screen(session, prescriber, patient)
    assert issue(session, prescriber, patient, status="draft").status is PrescriptionStatus.DRAFT


# --- the DEA number ----------------------------------------------------------------------

def test_an_administrator_records_a_dea_number_and_it_is_audited(session, make):
    prescriber, admin = make.user(Role.PRESCRIBER), make.user(Role.ADMIN)
    operations.set_dea_number(session, as_(admin), prescriber, " bb1111119 ")
    assert prescriber.dea_number == "BB1111119"
    [event] = [e for e in audit(session, AuditAction.DEA_NUMBER_SET) if e.object_id == str(prescriber.id)]
    assert event.actor_user_id == admin.id and event.details == {"dea_number": "BB1111119", "previous": None}


def test_a_prescriber_cannot_record_their_own_dea_number(session, team):
    with pytest.raises(NotAllowed):
        operations.set_dea_number(session, as_(team[0]), team[0], "BB1111119")


def test_only_prescribers_have_dea_numbers(session, make):
    assert "role" in refused(operations.set_dea_number, session, SYSTEM, make.user(Role.PHARMACIST), "BB1111119")


def test_a_dea_number_belongs_to_one_prescriber(session, make, team):
    assert "dea_number" in refused(operations.set_dea_number, session, SYSTEM, make.user(Role.PRESCRIBER), DEA)


def test_a_dea_number_with_a_bad_check_digit_is_not_recorded(session, team):
    assert "dea_number" in refused(operations.set_dea_number, session, SYSTEM, team[0], "AB1234560")
    assert team[0].dea_number == DEA


# --- status ------------------------------------------------------------------------------

@pytest.fixture
def prescription(session, prescriber, patient):
    screen(session, prescriber, patient)
    return issue(session, prescriber, patient)


def change(session, actor, prescription, status, note=None):
    result = operations.change_prescription_status(session, actor, prescription.id, status, note)
    session.commit()
    return result


def test_suspending_needs_a_note_and_is_audited(session, prescriber, prescription, clock):
    assert "note" in refused(operations.change_prescription_status, session, prescriber, prescription.id,
                             "suspended", "  ")
    clock.advance(hours=2)
    change(session, prescriber, prescription, "suspended", "BP 168/104 at the last session; reviewing.")
    assert prescription.status is PrescriptionStatus.SUSPENDED and prescription.status_changed_at == clock.now()
    assert prescription.status_note == "BP 168/104 at the last session; reviewing."
    [event] = audit(session, AuditAction.PRESCRIPTION_STATUS_CHANGED)
    assert event.patient_id == prescription.patient_id and event.details == {"from": "active", "to": "suspended"}


def test_a_suspended_prescription_can_resume(session, prescriber, prescription):
    change(session, prescriber, prescription, "suspended", "Travelling.")
    assert change(session, prescriber, prescription, "active").status is PrescriptionStatus.ACTIVE


def test_a_cancelled_prescription_stays_cancelled(session, prescriber, prescription):
    change(session, prescriber, prescription, "cancelled", "Patient chose another treatment.")
    with pytest.raises(Conflict, match="final"):
        change(session, prescriber, prescription, "active")


def test_resuming_is_refused_while_a_newer_screening_blocks_prescribing(session, prescriber, patient,
                                                                       prescription):
    change(session, prescriber, prescription, "suspended", "Reported chest pain.")
    screen(session, prescriber, patient, contraindications=["heart_disease"])
    assert "screening" in refused(operations.change_prescription_status, session, prescriber, prescription.id,
                                  "active", None)
    assert prescription.status is PrescriptionStatus.SUSPENDED


def test_an_expired_prescription_cannot_be_made_active(session, prescriber, patient, clock):
    screen(session, prescriber, patient)
    draft = issue(session, prescriber, patient, status="draft", window_days=1)
    clock.advance(days=1)
    assert "status" in refused(operations.change_prescription_status, session, prescriber, draft.id, "active", None)


def test_compliance_reads_but_does_not_change_prescriptions(session, make, prescription):
    with pytest.raises(NotAllowed):
        operations.change_prescription_status(session, as_(make.user(Role.COMPLIANCE)), prescription.id,
                                              "cancelled", "No.")


# --- reading and listing -----------------------------------------------------------------

def test_the_patient_reads_their_own_prescription_without_an_audit_row(session, patient, prescription):
    assert operations.read_prescription(session, as_(patient.user), prescription.id) is prescription
    assert audit(session, AuditAction.PRESCRIPTION_READ) == []


@pytest.mark.parametrize("role", [Role.PHARMACIST, Role.COMPLIANCE])
def test_pharmacists_and_compliance_read_any_prescription_and_the_read_is_audited(session, make, prescription,
                                                                                   role):
    reader = make.user(role)
    operations.read_prescription(session, as_(reader), prescription.id)
    [event] = audit(session, AuditAction.PRESCRIPTION_READ)
    assert (event.actor_user_id, event.patient_id) == (reader.id, prescription.patient_id)


@pytest.mark.parametrize("role", [Role.PRESCRIBER, Role.ADMIN, Role.PATIENT])
def test_others_are_told_no_such_prescription(session, make, team, prescription, role):
    other = make.patient(team[0]).user if role is Role.PATIENT else make.user(role)
    with pytest.raises(NotAllowed) as caught:
        operations.read_prescription(session, as_(other), prescription.id)
    assert caught.value.hide_existence


def test_prescribers_list_their_own_and_backed_up_patients_prescriptions(session, make, team, prescription):
    prescriber, backup, _ = team
    stranger = make.user(Role.PRESCRIBER)
    assert operations.list_prescriptions(session, as_(prescriber)) == [prescription]
    assert operations.list_prescriptions(session, as_(backup)) == [prescription]
    assert operations.list_prescriptions(session, as_(stranger)) == []


def test_a_list_is_audited_with_the_ids_shown(session, make, prescription):
    pharmacist = make.user(Role.PHARMACIST)
    operations.list_prescriptions(session, as_(pharmacist), patient_id=prescription.patient_id)
    [event] = audit(session, AuditAction.PRESCRIPTION_LIST_READ)
    assert event.details == {"prescription_ids": [prescription.id]} and event.patient_id == prescription.patient_id


def test_a_list_filters_by_status_and_patient(session, make, team, prescriber, prescription):
    other_patient = make.patient(team[0])
    screen(session, prescriber, other_patient)
    draft = issue(session, prescriber, other_patient, status="draft")
    assert operations.list_prescriptions(session, prescriber, statuses=["draft"]) == [draft]
    assert operations.list_prescriptions(session, prescriber, patient_id=prescription.patient_id) == [prescription]


def test_a_patient_lists_only_their_own(session, make, team, prescriber, patient, prescription):
    other_patient = make.patient(team[0])
    screen(session, prescriber, other_patient)
    issue(session, prescriber, other_patient)
    assert operations.list_prescriptions(session, as_(patient.user)) == [prescription]


def test_administrators_do_not_list_prescriptions(session, make):
    with pytest.raises(NotAllowed):
        operations.list_prescriptions(session, as_(make.user(Role.ADMIN)))
