"""SPEC §5 and §10 on the web: the prescribers' alert queue, one alert with its timeline,
acknowledge and resolve by form; who sees what; bad input changes nothing."""
import re

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.escalations import operations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from telehealth.messaging.models import Message, MessageStatus
from tests.conftest import csrf_token, log_in


@pytest.fixture
def team(make):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    backup = make.user(Role.PRESCRIBER, name="Eli Backup")
    patient = make.patient(prescriber, backup, name="Gale Harper")
    return prescriber, backup, patient


def raise_(app, session, patient, reason=Reason.SOS, severity=Severity.URGENT):
    escalation = operations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                             patient_id=patient.id, reason=reason, severity=severity)
    session.commit()
    return escalation


def fresh(session, escalation) -> Escalation:
    session.expire_all()
    return session.get(Escalation, escalation.id)


def events(session, action: AuditAction) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)))


def alert_numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/escalations/(\d+)"', page)]


def post_form(client, escalation, action: str, **data):
    token = csrf_token(client, f"/escalations/{escalation.id}")
    return client.post(f"/escalations/{escalation.id}/{action}", data={"csrf_token": token, **data})


def test_the_queue_lists_unacknowledged_above_acknowledged_then_urgent_first_then_oldest(
        app, client, session, clock, make, team):
    prescriber, _, patient = team
    other = make.patient(prescriber, name="Hale Other")
    moderate_old = raise_(app, session, patient, Reason.PRE_DOSE_HOLD, Severity.MODERATE)
    clock.advance(minutes=1)
    urgent_old = raise_(app, session, patient, Reason.SOS, Severity.URGENT)
    clock.advance(minutes=1)
    acknowledged_urgent = raise_(app, session, other, Reason.SOS, Severity.URGENT)
    operations.acknowledge(session, Actor.for_user(prescriber), acknowledged_urgent.id, channel="web")
    session.commit()
    clock.advance(minutes=1)
    urgent_new = raise_(app, session, other, Reason.CRISIS_PHRASE, Severity.URGENT)
    resolved = raise_(app, session, other, Reason.ADVERSE_FINDING, Severity.HIGH)
    operations.resolve(session, Actor.for_user(prescriber), resolved.id, outcome=Outcome.OTHER, note="ok",
                       channel="web")
    session.commit()
    log_in(client, prescriber.email)
    page = client.get("/escalations").get_data(as_text=True)
    assert alert_numbers(page) == [urgent_old.id, urgent_new.id, moderate_old.id, acknowledged_urgent.id]
    assert '<span class="badge urgent">urgent</span>' in page and "SOS received" in page
    assert f'href="/patients/{patient.id}"' in page and "Gale Harper" in page
    assert "Dana Prescriber" in page  # who acknowledged
    assert "Fri 20 Nov 2026, 09:00 CST" in page  # opened, in the patient's time zone (15:00 UTC)


def test_the_queue_filters_by_state_and_severity(app, client, session, team):
    prescriber, _, patient = team
    urgent = raise_(app, session, patient)
    moderate = raise_(app, session, patient, Reason.PRE_DOSE_HOLD, Severity.MODERATE)
    operations.resolve(session, Actor.for_user(prescriber), moderate.id, outcome=Outcome.OTHER, note="done",
                       channel="web")
    session.commit()
    log_in(client, prescriber.email)
    assert alert_numbers(client.get("/escalations?state=resolved").get_data(as_text=True)) == [moderate.id]
    assert alert_numbers(client.get("/escalations?state=all&severity=urgent").get_data(as_text=True)) == [urgent.id]
    assert client.get("/escalations?state=closed").status_code == 422


def test_a_prescriber_sees_their_own_and_backed_up_patients_alerts_only(app, client, session, make, team):
    prescriber, backup, patient = team
    colleague = make.user(Role.PRESCRIBER)
    theirs = raise_(app, session, make.patient(colleague, name="Ivy Elsewhere"))
    mine = raise_(app, session, patient)
    log_in(client, backup.email)  # the backup prescriber of Gale Harper
    page = client.get("/escalations").get_data(as_text=True)
    assert alert_numbers(page) == [mine.id] and "Ivy Elsewhere" not in page
    assert client.get(f"/escalations/{mine.id}").status_code == 200
    assert client.get(f"/escalations/{theirs.id}").status_code == 404


def test_another_prescribers_alert_is_404_and_the_refusal_is_audited(app, client, session, make, team):
    prescriber, _, _ = team
    colleague = make.user(Role.PRESCRIBER)
    theirs = raise_(app, session, make.patient(colleague, name="Ivy Elsewhere"))
    log_in(client, prescriber.email)
    response = client.get(f"/escalations/{theirs.id}")
    assert response.status_code == 404 and "Ivy Elsewhere" not in response.get_data(as_text=True)
    assert client.get("/escalations/999999").status_code == 404
    refusal, = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == prescriber.id and refusal.patient_id == theirs.patient_id
    assert refusal.object_type == "escalation" and refusal.object_id == str(theirs.id)
    assert events(session, AuditAction.ESCALATION_READ) == []


def test_a_patient_gets_403_on_the_alert_pages(app, client, session, team):
    *_, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, patient.user.email)
    assert client.get("/escalations").status_code == 403
    assert client.get(f"/escalations/{escalation.id}").status_code == 403
    assert len(events(session, AuditAction.ACCESS_REFUSED)) == 2


def test_compliance_sees_every_alert_but_acts_only_on_compliance_ones(app, client, session, make, team):
    *_, patient = team
    clinical = raise_(app, session, patient)
    compliance = raise_(app, session, make.patient(make.user(Role.PRESCRIBER)), Reason.RECEIPT_OVERDUE,
                        Severity.HIGH)
    officer = make.user(Role.COMPLIANCE)
    log_in(client, officer.email)
    assert sorted(alert_numbers(client.get("/escalations").get_data(as_text=True))) == \
        sorted([clinical.id, compliance.id])
    clinical_page = client.get(f"/escalations/{clinical.id}").get_data(as_text=True)
    assert "/acknowledge" not in clinical_page and "/resolve" not in clinical_page  # not theirs to act on
    assert post_form(client, clinical, "acknowledge").status_code == 403
    assert fresh(session, clinical).state is State.OPEN
    assert post_form(client, compliance, "acknowledge").status_code == 302
    assert fresh(session, compliance).state is State.ACKNOWLEDGED


def test_acknowledging_on_the_web_stops_paging_and_is_audited(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, prescriber.email)
    response = post_form(client, escalation, "acknowledge")
    assert response.status_code == 302 and response.headers["Location"] == f"/escalations/{escalation.id}"
    after = fresh(session, escalation)
    assert after.state is State.ACKNOWLEDGED and after.next_page_at is None
    assert after.acknowledged_by_id == prescriber.id
    audited, = events(session, AuditAction.ESCALATION_ACKNOWLEDGED)
    assert audited.actor_user_id == prescriber.id and audited.details["channel"] == "web"
    page = client.get(f"/escalations/{escalation.id}").get_data(as_text=True)
    assert f"Alert {escalation.id} acknowledged; paging stopped." in page
    assert 'action="/escalations/%d/acknowledge"' % escalation.id not in page  # no second acknowledge
    assert 'action="/escalations/%d/resolve"' % escalation.id in page


def test_acknowledging_twice_is_409_and_changes_nothing(app, client, session, team):
    prescriber, backup, patient = team
    escalation = raise_(app, session, patient)
    operations.acknowledge(session, Actor.for_user(backup), escalation.id, channel="sms")
    session.commit()
    log_in(client, prescriber.email)
    response = post_form(client, escalation, "acknowledge")
    assert response.status_code == 409 and "already acknowledged" in response.get_data(as_text=True)
    assert fresh(session, escalation).acknowledged_by_id == backup.id


def test_resolving_on_the_web_records_outcome_and_note(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, prescriber.email)
    response = post_form(client, escalation, "resolve", outcome="reached_patient", note="Called; all is well.")
    assert response.status_code == 302
    after = fresh(session, escalation)
    assert after.state is State.RESOLVED and after.outcome is Outcome.REACHED_PATIENT
    assert after.resolution_note == "Called; all is well." and after.resolved_by_id == prescriber.id
    assert events(session, AuditAction.ESCALATION_RESOLVED)[0].details["channel"] == "web"
    page = client.get(f"/escalations/{escalation.id}").get_data(as_text=True)
    assert "reached patient" in page and "Called; all is well." in page
    assert "/resolve" not in page and "/acknowledge" not in page


def test_resolve_requires_an_outcome_and_a_note(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, prescriber.email)
    response = post_form(client, escalation, "resolve", outcome="", note="   ")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Choose an outcome: reached patient, emergency services" in page and "a resolution needs a note" in page
    assert 'class="field invalid"' in page
    after = fresh(session, escalation)
    assert after.state is State.OPEN and after.resolution_note is None
    assert events(session, AuditAction.ESCALATION_RESOLVED) == []


def test_resolve_with_an_unknown_outcome_is_422_and_changes_nothing(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, prescriber.email)
    response = post_form(client, escalation, "resolve", outcome="cured", note="Gone.")
    assert response.status_code == 422 and "Choose an outcome:" in response.get_data(as_text=True)
    assert fresh(session, escalation).state is State.OPEN


def test_resolving_an_already_resolved_alert_is_409_and_changes_nothing(app, client, session, clock, team):
    prescriber, backup, patient = team
    escalation = raise_(app, session, patient)
    operations.resolve(session, Actor.for_user(backup), escalation.id, outcome=Outcome.NO_ACTION_NEEDED,
                       note="False alarm.", channel="sms")
    session.commit()
    clock.advance(minutes=5)
    log_in(client, prescriber.email)
    response = client.post(f"/escalations/{escalation.id}/resolve",
                           data={"csrf_token": csrf_token(client, "/escalations"), "outcome": "other",
                                 "note": "Again."})
    assert response.status_code == 409 and "already resolved" in response.get_data(as_text=True)
    after = fresh(session, escalation)
    assert after.outcome is Outcome.NO_ACTION_NEEDED and after.resolution_note == "False alarm."
    assert after.resolved_by_id == backup.id and len(events(session, AuditAction.ESCALATION_RESOLVED)) == 1


def test_a_form_post_without_a_csrf_token_is_refused(app, client, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    log_in(client, prescriber.email)
    assert client.post(f"/escalations/{escalation.id}/acknowledge").status_code == 400
    response = client.post(f"/escalations/{escalation.id}/resolve", data={"outcome": "other", "note": "x"})
    assert response.status_code == 400
    assert fresh(session, escalation).state is State.OPEN


def test_the_detail_page_shows_every_page_with_its_delivery_status(app, client, session, clock, team):
    prescriber, backup, patient = team
    escalation = raise_(app, session, patient)
    first_page = session.scalar(sa.select(Message).where(Message.owner_type == "escalation"))
    first_page.status = MessageStatus.DELIVERED
    clock.advance(minutes=5)  # urgent: re-page the prescriber, and page the backup
    operations.advance_escalation(session, EscalationSettings.from_config(app.config), escalation.id)
    session.commit()
    log_in(client, prescriber.email)
    page = client.get(f"/escalations/{escalation.id}").get_data(as_text=True)
    rows = re.findall(r'<tr class="event-(\w+)">(.*?)</tr>', page, re.S)
    assert [kind for kind, _ in rows] == ["triggered", "paged", "paged", "paged"]
    paged = [(re.sub(r"<[^>]+>", " ", row)) for kind, row in rows if kind == "paged"]
    assert "Dana Prescriber" in paged[0] and "delivered" in paged[0]
    assert all("queued" in row for row in paged[1:])
    assert sorted("Eli Backup" in row for row in paged[1:]) == [False, True]
    post_form(client, escalation, "acknowledge")
    page = client.get(f"/escalations/{escalation.id}").get_data(as_text=True)
    assert page.count('<span class="delivery cancelled">cancelled</span>') == 2  # queued pages withdrawn
    assert '<tr class="event-acknowledged">' in page


def test_the_patient_page_lists_their_alerts(app, client, session, make, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    resolved = raise_(app, session, patient, Reason.PRE_DOSE_HOLD, Severity.MODERATE)
    operations.resolve(session, Actor.for_user(prescriber), resolved.id, outcome=Outcome.OTHER, note="done",
                       channel="web")
    raise_(app, session, make.patient(prescriber, name="Someone Else"))
    session.commit()
    log_in(client, prescriber.email)
    page = client.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert alert_numbers(page) == [escalation.id, resolved.id]


def test_the_start_page_for_prescribers_is_the_queue_and_compliance_reaches_it(client, make):
    # Compliance staff start on the compliance dashboard (issue 7), with Alerts in their menu.
    for role, start in ((Role.PRESCRIBER, "/escalations"), (Role.COMPLIANCE, "/compliance")):
        user = make.user(role)
        log_in(client, user.email)
        assert client.get("/").headers["Location"] == start
        assert 'href="/escalations">Alerts</a>' in client.get("/escalations").get_data(as_text=True)
        client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
