"""SPEC §5 and §10 through `/api/v1/escalations`: list with filters, read with the timeline,
acknowledge, resolve; one JSON error shape; bad input changes nothing."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.escalations import operations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from tests.conftest import PASSWORD

ERROR_SHAPE = {"code", "status", "message", "errors"}


@pytest.fixture
def team(make):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    backup = make.user(Role.PRESCRIBER, name="Eli Backup")
    patient = make.patient(prescriber, backup, name="Gale Harper")
    return prescriber, backup, patient


def token_for(client, user) -> dict[str, str]:
    token = client.post("/api/v1/auth/tokens", json={"email": user.email, "password": PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def raise_(app, session, patient, reason=Reason.SOS, severity=Severity.URGENT):
    escalation = operations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                             patient_id=patient.id, reason=reason, severity=severity)
    session.commit()
    return escalation


def fresh(session, escalation) -> Escalation:
    session.expire_all()
    return session.get(Escalation, escalation.id)


def audited(session, action: AuditAction) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)))


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [e["id"] for e in response.json]


def test_the_api_list_is_the_queue_by_default(app, client, session, clock, team):
    prescriber, _, patient = team
    moderate = raise_(app, session, patient, Reason.PRE_DOSE_HOLD, Severity.MODERATE)
    clock.advance(minutes=1)
    urgent = raise_(app, session, patient)
    resolved = raise_(app, session, patient, Reason.CRISIS_PHRASE)
    operations.resolve(session, Actor.for_user(prescriber), resolved.id, outcome=Outcome.OTHER, note="ok",
                       channel="web")
    session.commit()
    response = client.get("/api/v1/escalations", headers=token_for(client, prescriber))
    assert ids(response) == [urgent.id, moderate.id]
    first = response.json[0]
    assert first["severity"] == "urgent" and first["reason"] == "sos" and first["reason_label"] == "SOS received"
    assert first["state"] == "open" and first["patient_id"] == patient.id and first["patient_name"] == "Gale Harper"
    assert first["opened_at"].endswith("+00:00") and "timeline" not in first
    listed, = audited(session, AuditAction.ESCALATION_LIST_READ)
    assert listed.details["escalation_ids"] == [urgent.id, moderate.id]


def test_the_api_list_filters_by_state_severity_patient_and_reason(app, client, session, make, team):
    prescriber, _, patient = team
    other = make.patient(prescriber)
    urgent = raise_(app, session, patient)
    moderate = raise_(app, session, patient, Reason.PRE_DOSE_HOLD, Severity.MODERATE)
    elsewhere = raise_(app, session, other, Reason.CRISIS_PHRASE, Severity.HIGH)
    operations.acknowledge(session, Actor.for_user(prescriber), elsewhere.id, channel="web")
    operations.resolve(session, Actor.for_user(prescriber), moderate.id, outcome=Outcome.OTHER, note="ok",
                       channel="web")
    session.commit()
    headers = token_for(client, prescriber)

    def listed(query: str) -> list[int]:
        return ids(client.get(f"/api/v1/escalations?{query}", headers=headers))

    assert listed("severity=moderate&state=resolved") == [moderate.id]
    assert listed("state=open") == [urgent.id]
    assert listed("state=open&state=acknowledged") == listed("state=open,acknowledged") == [urgent.id, elsewhere.id]
    assert listed("state=open,acknowledged,resolved") == [urgent.id, elsewhere.id, moderate.id]
    assert listed(f"patient_id={other.id}") == [elsewhere.id]
    assert listed("reason=crisis_phrase") == [elsewhere.id]


def test_the_api_list_rejects_unknown_filter_values_with_field_errors(client, team):
    prescriber, *_ = team
    response = client.get("/api/v1/escalations?state=open,closed&severity=dire&reason=boredom&patient_id=x&colour=1",
                          headers=token_for(client, prescriber))
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == {"state", "severity", "reason", "patient_id", "colour"}
    assert response.json["errors"]["state"] == ["'closed': Must be one of: open, acknowledged, resolved."]


def test_the_api_reads_an_alert_with_its_timeline_and_delivery_statuses(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    response = client.get(f"/api/v1/escalations/{escalation.id}", headers=token_for(client, prescriber))
    assert response.status_code == 200
    triggered, paged = response.json["timeline"]
    assert triggered["kind"] == "triggered" and triggered["message_status"] is None
    assert paged["kind"] == "paged" and paged["message_status"] == "queued"
    assert paged["recipient"] == {"id": prescriber.id, "full_name": "Dana Prescriber"}
    assert len(audited(session, AuditAction.ESCALATION_READ)) == 1


def test_the_api_hides_another_prescribers_alert_and_audits_the_refusal(app, client, session, make, team):
    prescriber, *_ = team
    theirs = raise_(app, session, make.patient(make.user(Role.PRESCRIBER)))
    headers = token_for(client, prescriber)
    assert ids(client.get("/api/v1/escalations", headers=headers)) == []
    for response in (client.get(f"/api/v1/escalations/{theirs.id}", headers=headers),
                     client.post(f"/api/v1/escalations/{theirs.id}/acknowledge", headers=headers)):
        assert response.status_code == 404 and response.json["message"] == "Not found."
    assert fresh(session, theirs).state is State.OPEN
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 2


def test_a_patient_gets_403_from_the_escalations_api(app, client, session, team):
    *_, patient = team
    escalation = raise_(app, session, patient)
    headers = token_for(client, patient.user)
    for response in (client.get("/api/v1/escalations", headers=headers),
                     client.get(f"/api/v1/escalations/{escalation.id}", headers=headers),
                     client.post(f"/api/v1/escalations/{escalation.id}/acknowledge", headers=headers)):
        assert response.status_code == 403 and set(response.json) == ERROR_SHAPE
    assert fresh(session, escalation).state is State.OPEN


def test_compliance_reads_every_alert_and_owns_the_compliance_ones(app, client, session, make, team):
    *_, patient = team
    clinical = raise_(app, session, patient)
    inventory = raise_(app, session, patient, Reason.INVENTORY_DISCREPANCY, Severity.HIGH)
    headers = token_for(client, make.user(Role.COMPLIANCE))
    assert sorted(ids(client.get("/api/v1/escalations", headers=headers))) == sorted([clinical.id, inventory.id])
    assert client.get(f"/api/v1/escalations/{clinical.id}", headers=headers).status_code == 200
    refused = client.post(f"/api/v1/escalations/{clinical.id}/acknowledge", headers=headers)
    assert refused.status_code == 403 and refused.json["code"] == 403
    assert client.post(f"/api/v1/escalations/{inventory.id}/acknowledge", headers=headers).status_code == 200


def test_acknowledging_by_api_stops_paging_and_returns_the_alert(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    response = client.post(f"/api/v1/escalations/{escalation.id}/acknowledge", headers=token_for(client, prescriber))
    assert response.status_code == 200
    body = response.json
    assert body["state"] == "acknowledged" and body["next_page_at"] is None
    assert body["acknowledged_by"] == {"id": prescriber.id, "full_name": "Dana Prescriber"}
    assert [e["kind"] for e in body["timeline"]] == ["triggered", "paged", "acknowledged"]
    assert body["timeline"][1]["message_status"] == "cancelled"  # the queued page was withdrawn
    after = fresh(session, escalation)
    assert after.state is State.ACKNOWLEDGED and after.next_page_at is None
    assert audited(session, AuditAction.ESCALATION_ACKNOWLEDGED)[0].details["channel"] == "api"


def test_acknowledging_twice_by_api_is_409(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    headers = token_for(client, prescriber)
    client.post(f"/api/v1/escalations/{escalation.id}/acknowledge", headers=headers)
    again = client.post(f"/api/v1/escalations/{escalation.id}/acknowledge", headers=headers)
    assert again.status_code == 409 and set(again.json) == ERROR_SHAPE
    assert again.json["message"] == f"Alert {escalation.id} was already acknowledged."


def test_resolving_by_api_records_outcome_and_note(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    response = client.post(f"/api/v1/escalations/{escalation.id}/resolve", headers=token_for(client, prescriber),
                           json={"outcome": "emergency_services", "note": "Called 911 with the sitter."})
    assert response.status_code == 200
    body = response.json
    assert body["state"] == "resolved" and body["outcome"] == "emergency_services"
    assert body["outcome_label"] == "emergency services" and body["resolution_note"] == "Called 911 with the sitter."
    assert body["timeline"][-1]["kind"] == "resolved"
    assert fresh(session, escalation).resolved_by_id == prescriber.id


@pytest.mark.parametrize("body, fields", [
    ({"outcome": "reached_patient"}, {"note"}),
    ({"outcome": "reached_patient", "note": "   "}, {"note"}),
    ({"outcome": "cured", "note": "Gone."}, {"outcome"}),
    ({"note": "Gone."}, {"outcome"}),
    ({"outcome": "other", "note": "x", "urgent": True}, {"urgent"}),
])
def test_resolving_by_api_with_bad_input_is_422_with_field_errors_and_changes_nothing(
        app, client, session, team, body, fields):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    response = client.post(f"/api/v1/escalations/{escalation.id}/resolve", headers=token_for(client, prescriber),
                           json=body)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert set(response.json["errors"]) == fields
    after = fresh(session, escalation)
    assert after.state is State.OPEN and after.outcome is None and after.resolution_note is None


def test_resolving_an_already_resolved_alert_by_api_is_409_and_changes_nothing(app, client, session, team):
    prescriber, backup, patient = team
    escalation = raise_(app, session, patient)
    operations.resolve(session, Actor.for_user(backup), escalation.id, outcome=Outcome.NO_ACTION_NEEDED,
                       note="False alarm.", channel="sms")
    session.commit()
    response = client.post(f"/api/v1/escalations/{escalation.id}/resolve", headers=token_for(client, prescriber),
                           json={"outcome": "other", "note": "Again."})
    assert response.status_code == 409 and response.json["status"] == "Conflict"
    assert response.json["message"] == f"Alert {escalation.id} is already resolved."
    after = fresh(session, escalation)
    assert after.outcome is Outcome.NO_ACTION_NEEDED and after.resolved_by_id == backup.id


def test_the_escalations_api_needs_a_token(client):
    response = client.get("/api/v1/escalations")
    assert response.status_code == 401 and set(response.json) == ERROR_SHAPE


def test_the_escalations_api_is_documented(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert {"/api/v1/escalations", "/api/v1/escalations/{escalation_id}",
            "/api/v1/escalations/{escalation_id}/acknowledge", "/api/v1/escalations/{escalation_id}/resolve"} <= set(paths)
