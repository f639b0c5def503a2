"""Escalations by text: a prescriber's ACK and RESOLVE; alerts raised by patients' and sitters' texts."""
import pytest
import sqlalchemy as sa

from telehealth.accounts import operations as accounts
from telehealth.accounts.models import PatientStatus, Role
from telehealth.actor import Actor
from telehealth.escalations import operations
from telehealth.escalations.models import Escalation
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from tests.flows.sms import reply_of, text_in


@pytest.fixture
def team(make, session):
    prescriber, backup = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber, backup)
    patient.status = PatientStatus.ACTIVE
    session.commit()
    return prescriber, backup, patient


def raise_(app, session, patient, reason=Reason.SOS, severity=Severity.URGENT):
    escalation = operations.raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                             patient_id=patient.id, reason=reason, severity=severity)
    session.commit()
    return escalation


def state(session, escalation) -> State:
    session.expire_all()
    return session.get(Escalation, escalation.id).state


def test_ack_with_the_number_acknowledges(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, prescriber.phone, f"ACK {escalation.id}"))
    assert reply == (f"Lakeside Clinic: Alert {escalation.id} acknowledged; paging stopped. Resolve it on the "
                     f"dashboard or text RESOLVE {escalation.id} and a note.")
    assert state(session, escalation) is State.ACKNOWLEDGED
    assert session.get(Escalation, escalation.id).acknowledged_by_id == prescriber.id


def test_a_bare_ack_acknowledges_the_one_open_page(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    assert "acknowledged" in reply_of(text_in(client, app, prescriber.phone, "ack"))
    assert state(session, escalation) is State.ACKNOWLEDGED


def test_a_bare_ack_with_two_open_pages_asks_which(client, app, session, team):
    prescriber, _, patient = team
    first = raise_(app, session, patient)
    second = raise_(app, session, patient, Reason.CRISIS_PHRASE)
    reply = reply_of(text_in(client, app, prescriber.phone, "ACK"))
    assert f"({first.id}, {second.id})" in reply and "Text ACK and the number" in reply
    assert state(session, first) is state(session, second) is State.OPEN


def test_ack_of_an_unknown_number_says_so_and_changes_nothing(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    assert "found no alert 999999" in reply_of(text_in(client, app, prescriber.phone, "ACK 999999"))
    assert state(session, escalation) is State.OPEN


def test_ack_of_someone_elses_escalation_looks_unknown_and_changes_nothing(client, app, session, team, make):
    _, _, patient = team
    stranger = make.user(Role.PRESCRIBER)
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, stranger.phone, f"ACK {escalation.id}"))
    assert f"found no alert {escalation.id}" in reply
    assert state(session, escalation) is State.OPEN


def test_ack_of_a_resolved_escalation_says_it_is_resolved(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    operations.resolve(session, Actor.for_user(prescriber), escalation.id, outcome="other", note="done",
                       channel="web")
    session.commit()
    assert "already resolved" in reply_of(text_in(client, app, prescriber.phone, f"ACK {escalation.id}"))


def test_resolve_by_text_with_a_note_resolves_with_the_outcome_it_names(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, prescriber.phone, f"RESOLVE {escalation.id} reached patient, she is fine"))
    assert reply == f"Lakeside Clinic: Alert {escalation.id} resolved (reached patient)."
    session.expire_all()
    resolved = session.get(Escalation, escalation.id)
    assert resolved.state is State.RESOLVED and resolved.outcome is Outcome.REACHED_PATIENT
    assert resolved.resolution_note == "reached patient, she is fine"


def test_resolve_without_a_note_asks_for_one_and_changes_nothing(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, prescriber.phone, f"RESOLVE {escalation.id}"))
    assert f"RESOLVE {escalation.id} <what happened>" in reply
    assert state(session, escalation) is State.OPEN


def test_a_patient_texting_ack_gets_help_and_acknowledges_nothing(client, app, session, team):
    _, _, patient = team
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, patient.phone, f"ACK {escalation.id}"))
    assert "READY" in reply
    assert state(session, escalation) is State.OPEN


def test_sos_from_a_sitter_opens_an_urgent_escalation_paged_to_the_prescriber(client, app, session, team, policy):
    prescriber, _, patient = team
    sitter = accounts.add_sitter(session, Actor.system("test"), policy, patient, full_name="Hal Sitter",
                                 phone="+12015550190", relationship_to_patient="friend")
    session.commit()
    assert "Call 911 now" in reply_of(text_in(client, app, sitter.phone, "SOS"))
    escalation = session.scalar(sa.select(Escalation))
    assert escalation.reason is Reason.SOS and escalation.severity is Severity.URGENT
    assert escalation.patient_id == patient.id
    from telehealth.messaging.models import Message
    assert session.scalar(sa.select(Message.to_phone).where(Message.owner_type == "escalation")) == prescriber.phone


def test_crisis_words_from_a_patient_open_an_urgent_escalation(client, app, session, team):
    _, _, patient = team
    text_in(client, app, patient.phone, "I can't breathe")
    escalation = session.scalar(sa.select(Escalation))
    assert escalation.reason is Reason.CRISIS_PHRASE and escalation.severity is Severity.URGENT


def test_a_prescribers_note_mentioning_chest_pain_is_not_a_crisis(client, app, session, team):
    prescriber, _, patient = team
    escalation = raise_(app, session, patient)
    reply = reply_of(text_in(client, app, prescriber.phone, f"RESOLVE {escalation.id} reached patient, chest pain gone"))
    assert "resolved" in reply
    assert session.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1


def test_a_patient_opting_out_mid_course_raises_a_moderate_escalation(client, app, session, team):
    _, _, patient = team
    text_in(client, app, patient.phone, "STOP")
    escalation = session.scalar(sa.select(Escalation))
    assert escalation.reason is Reason.OPTED_OUT_MID_COURSE and escalation.severity is Severity.MODERATE


def test_opting_out_before_the_course_starts_raises_nothing(client, app, session, team):
    _, _, patient = team
    patient.status = PatientStatus.ONBOARDING
    session.commit()
    text_in(client, app, patient.phone, "STOP")
    assert session.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 0
