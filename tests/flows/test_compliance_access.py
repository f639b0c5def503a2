"""SPEC §10: reports and the audit chain are compliance staff's alone (admins included, refused:
no clinical data), every refusal is audited, and compliance staff cannot write anything clinical."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.dispensing.models import Dispensing, InventoryMovement, Shipment
from telehealth.dosing.models import DoseSession
from telehealth.escalations.models import Escalation
from telehealth.prescriptions.models import Prescription, Screening
from tests.conftest import csrf_token, log_in
from tests.flows.api import audited, token_for
from tests.integration import compliance_world

PAGES = ["/compliance", "/compliance/audit-chain/verification", "/compliance/dispensing-log",
         "/compliance/dispensing-log.csv", "/compliance/reconciliation/prescriptions",
         "/compliance/reconciliation/lots.csv", "/compliance/escalations", "/compliance/escalations.csv",
         "/compliance/audit-log", "/compliance/audit-log.csv"]
API = ["/api/v1/compliance/audit-chain", "/api/v1/compliance/audit-chain/verification",
       "/api/v1/compliance/dispensing-log", "/api/v1/compliance/dispensing-log.csv",
       "/api/v1/compliance/reconciliation/prescriptions", "/api/v1/compliance/reconciliation/lots",
       "/api/v1/compliance/reconciliation/lots.csv", "/api/v1/compliance/escalation-statistics",
       "/api/v1/compliance/escalation-statistics.csv", "/api/v1/compliance/audit-log",
       "/api/v1/compliance/audit-log.csv"]
OTHERS = [Role.ADMIN, Role.PRESCRIBER, Role.PHARMACIST, Role.PATIENT]


def someone(make, role):
    return make.patient(make.user(Role.PRESCRIBER)).user if role is Role.PATIENT else make.user(role)


@pytest.mark.parametrize("role", OTHERS, ids=lambda role: role.value)
def test_every_report_page_refuses_everyone_but_compliance_and_audits_it(client, make, session, role):
    user = someone(make, role)
    log_in(client, user.email)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
    refusals = audited(session, AuditAction.ACCESS_REFUSED)
    assert [event.details["path"] for event in refusals] == [path.split("?")[0] for path in PAGES]
    assert {event.actor_user_id for event in refusals} == {user.id}
    assert audited(session, AuditAction.REPORT_READ) == audited(session, AuditAction.REPORT_EXPORTED) == []


@pytest.mark.parametrize("role", OTHERS, ids=lambda role: role.value)
def test_every_report_in_the_api_refuses_everyone_but_compliance_and_audits_it(client, make, session, role):
    headers = token_for(client, someone(make, role))
    for path in API:
        response = client.get(path, headers=headers)
        assert response.status_code == 403 and response.json["code"] == 403, path
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == len(API)
    assert audited(session, AuditAction.AUDIT_CHAIN_VERIFIED) == []


def test_compliance_staff_reach_every_report(client, make, session):
    officer = make.user(Role.COMPLIANCE)
    headers = token_for(client, officer)
    for path in API:
        assert client.get(path, headers=headers).status_code == 200, path
    log_in(client, officer.email)
    for path in PAGES:
        assert client.get(path).status_code == 200, path


def test_the_compliance_start_page_is_the_dashboard(client, make):
    log_in(client, make.user(Role.COMPLIANCE).email)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/compliance")


# Every clinical write of the API, with the ids of a real world. Left out on purpose, as SPEC §10
# gives them to compliance: reporting a package lost and recording the DEA loss filings, and
# acknowledging or resolving compliance escalations (receipt and inventory problems).
CLINICAL_WRITES = [
    "/api/v1/patients/{gale}/sitters", "/api/v1/patients/{gale}/screenings", "/api/v1/screenings/{screening}/override",
    "/api/v1/prescriptions", "/api/v1/prescriptions/{rx}/status", "/api/v1/prescriptions/{rx}/dispensings",
    "/api/v1/dispensings/{fill}/shipment", "/api/v1/shipments/{shipment}/delivered",
    "/api/v1/shipments/{shipment}/receipt", "/api/v1/patients/{gale}/inventory/count",
    "/api/v1/patients/{gale}/inventory/waste", "/api/v1/patients/{gale}/inventory/returns",
    "/api/v1/patients/{gale}/release-authorizations", "/api/v1/patients/{gale}/sessions",
    "/api/v1/sessions/1/cancel", "/api/v1/sessions/1/hold-release", "/api/v1/me/session/questionnaire",
    "/api/v1/me/session/taken", "/api/v1/me/session/skip", "/api/v1/escalations/{clinical}/acknowledge",
    "/api/v1/escalations/{clinical}/resolve", "/api/v1/users",
]
CLINICAL_PAGES = [
    "/patients/{gale}/sitters", "/patients/{gale}/screenings", "/patients/{gale}/prescriptions",
    "/prescriptions/{rx}/status", "/pharmacy/prescriptions/{rx}/fills", "/pharmacy/fills/{fill}/ship",
    "/shipments/{shipment}/delivered", "/pharmacy/prescriptions/{rx}/returns", "/patients/{gale}/release",
    "/patients/{gale}/sessions", "/sessions/1/hold-release", "/sessions/1/cancel",
    "/escalations/{clinical}/acknowledge", "/escalations/{clinical}/resolve", "/admin/users",
]
WRITTEN = (Prescription, Screening, Dispensing, Shipment, InventoryMovement, DoseSession)


@pytest.fixture
def clinical_world(session, make, app, clock):
    from telehealth.actor import Actor
    from telehealth.escalations import operations as escalations
    from telehealth.escalations.operations import EscalationSettings
    from telehealth.escalations.rules import Reason, Severity

    world = compliance_world.build(session, make, app, clock)
    clinical = escalations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                            patient_id=world.gale.id, reason=Reason.SOS, severity=Severity.URGENT)
    session.commit()
    fill = session.scalar(sa.select(Dispensing).order_by(Dispensing.id.desc()))
    return dict(gale=world.gale.id, rx=world.rx1.id, screening=world.rx1.screening_id, fill=fill.id,
                shipment=fill.shipment.id, clinical=clinical.id)


def state(session):
    session.expire_all()
    counts = {model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model)) for model in WRITTEN}
    escalation_states = session.execute(sa.select(Escalation.id, Escalation.state, Escalation.acknowledged_at)).all()
    return counts, escalation_states


def test_compliance_staff_cannot_write_anything_clinical_through_the_api(client, make, session, clinical_world):
    headers = token_for(client, make.user(Role.COMPLIANCE))
    before = state(session)
    for path in CLINICAL_WRITES:
        body = {"outcome": "no_action_needed", "note": "Checked."} if path.endswith("/resolve") else {}
        response = client.post(path.format(**clinical_world), json=body, headers=headers)
        assert response.status_code == 403, (path, response.status_code, response.json)
    assert state(session) == before
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == len(CLINICAL_WRITES)


def test_compliance_staff_cannot_write_anything_clinical_through_the_pages(client, make, session, clinical_world):
    officer = make.user(Role.COMPLIANCE)
    log_in(client, officer.email)
    token = csrf_token(client, "/compliance")
    before = state(session)
    for path in CLINICAL_PAGES:
        form = {"outcome": "no_action_needed", "note": "Checked."} if path.endswith("/resolve") else {}
        response = client.post(path.format(**clinical_world), data={"csrf_token": token, **form})
        assert response.status_code == 403, (path, response.status_code)
    assert state(session) == before
    refused = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.ACCESS_REFUSED.value))
    assert len(list(refused)) == len(CLINICAL_PAGES)
