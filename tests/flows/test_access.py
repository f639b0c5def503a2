"""SPEC §10: who reaches which page and record; every refusal and every staff read is audited."""
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction, AuditEvent
from tests.conftest import log_in


def events(session, action: AuditAction) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)))


def test_a_patient_reaching_a_prescriber_page_gets_403_and_is_audited(client, make, session):
    patient = make.patient(make.user(Role.PRESCRIBER))
    log_in(client, patient.user.email)
    response = client.get("/patients")
    assert response.status_code == 403
    refusal, = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == patient.user_id
    assert refusal.details["path"] == "/patients" and refusal.details["method"] == "GET"
    assert refusal.client_address == "127.0.0.1"


def test_a_prescriber_reading_another_prescribers_patient_gets_404_and_is_audited(client, make, session):
    mine, theirs = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    their_patient = make.patient(theirs)
    log_in(client, mine.email)
    response = client.get(f"/patients/{their_patient.id}")
    assert response.status_code == 404
    assert their_patient.full_name not in response.get_data(as_text=True)
    refusal, = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == mine.id and refusal.patient_id == their_patient.id
    assert events(session, AuditAction.PATIENT_RECORD_READ) == []


def test_a_refused_and_a_missing_patient_look_the_same(client, make):
    mine, theirs = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    their_patient = make.patient(theirs)
    log_in(client, mine.email)
    refused = client.get(f"/patients/{their_patient.id}")
    missing = client.get("/patients/999999")
    assert refused.status_code == missing.status_code == 404


def test_a_prescriber_reads_their_own_patient_and_the_read_is_audited(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber, name="Rowan Quill")
    log_in(client, prescriber.email)
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code == 200 and "Rowan Quill" in response.get_data(as_text=True)
    read, = events(session, AuditAction.PATIENT_RECORD_READ)
    assert read.actor_user_id == prescriber.id and read.patient_id == patient.id


def test_the_backup_prescriber_reaches_the_patients_they_back_up(client, make):
    prescriber, backup = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber, backup)
    log_in(client, backup.email)
    assert client.get(f"/patients/{patient.id}").status_code == 200
    assert patient.full_name in client.get("/patients").get_data(as_text=True)


def test_the_patient_list_shows_only_the_prescribers_own_and_backed_up_patients(client, make, session):
    me, colleague = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    own = make.patient(me, name="Avery Own")
    backed_up = make.patient(colleague, me, name="Blair Backed")
    other = make.patient(colleague, name="Corey Other")
    log_in(client, me.email)
    page = client.get("/patients").get_data(as_text=True)
    assert "Avery Own" in page and "Blair Backed" in page and "Corey Other" not in page
    listed, = events(session, AuditAction.PATIENT_LIST_READ)
    assert sorted(listed.details["patient_ids"]) == sorted([own.id, backed_up.id])
    assert other.id not in listed.details["patient_ids"]


def test_compliance_reads_every_patient(client, make):
    patient = make.patient(make.user(Role.PRESCRIBER))
    officer = make.user(Role.COMPLIANCE)
    log_in(client, officer.email)
    assert client.get(f"/patients/{patient.id}").status_code == 200


def test_an_admin_has_no_clinical_access(client, make, session):
    patient = make.patient(make.user(Role.PRESCRIBER))
    admin = make.user(Role.ADMIN)
    log_in(client, admin.email)
    assert client.get("/patients").status_code == 403
    assert client.get(f"/patients/{patient.id}").status_code == 403
    assert len(events(session, AuditAction.ACCESS_REFUSED)) == 2


def test_a_patient_sees_their_own_record_without_a_staff_read_event(client, make, session):
    patient = make.patient(make.user(Role.PRESCRIBER), name="Dana Self")
    log_in(client, patient.user.email)
    assert client.get("/").headers["Location"] == "/me"
    assert "Dana Self" in client.get("/me").get_data(as_text=True)
    assert events(session, AuditAction.PATIENT_RECORD_READ) == []


def test_staff_pages_are_for_admins_only(client, make):
    log_in(client, make.user(Role.PRESCRIBER).email)
    assert client.get("/admin/users").status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, make):
    patient = make.patient(make.user(Role.PRESCRIBER))
    response = client.get(f"/patients/{patient.id}")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
