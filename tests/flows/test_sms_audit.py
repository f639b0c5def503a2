"""SPEC §8: every SMS in and out is in the audit log, as metadata only (message ids, Twilio's sid,
the sender as a party, the keyword understood, the template), never a body or a phone number.
A forged webhook is refused and audited with its client address, and changes nothing else."""
from __future__ import annotations

import json
import random

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role, Sitter
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.jobs.runner import JobContext
from telehealth.messaging import outbox
from telehealth.messaging.backends import TwilioBackend
from telehealth.messaging.jobs import dispatch_outbox
from telehealth.messaging.models import Direction, Message, MessageStatus
from telehealth.messaging.templates import Sms
from tests.fakes.twilio_server import Reply
from tests.flows.sms import CLINIC_NUMBER, reply_of, sign, status_in, text_in

TWILIO_ADDRESS = "203.0.113.9"  # a documentation address standing for Twilio's


def audit(session, action: AuditAction | None = None) -> list[AuditEvent]:
    session.expire_all()
    query = sa.select(AuditEvent).order_by(AuditEvent.id)
    if action is not None:
        query = query.where(AuditEvent.action == action.value)
    return list(session.scalars(query))


def messages(session) -> list[Message]:
    session.expire_all()
    return list(session.scalars(sa.select(Message).order_by(Message.id)))


def assert_no_body_or_number(event: AuditEvent, *texts: str) -> None:
    stored = json.dumps(event.details)
    for text in texts:
        assert text not in stored, f"{text!r} leaked into {event.action} details: {stored}"


@pytest.fixture
def patient(make):
    return make.patient(make.user(Role.PRESCRIBER))


# --- inbound ---------------------------------------------------------------------------------

def test_an_accepted_text_is_audited_with_its_sid_sender_and_keyword(client, app, session, patient):
    params = {"MessageSid": "SMaudit0001", "From": patient.phone, "To": CLINIC_NUMBER, "Body": " Status! "}
    client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(app, "/twilio/sms", params)},
                environ_base={"REMOTE_ADDR": TWILIO_ADDRESS})
    received, = audit(session, AuditAction.SMS_RECEIVED)
    inbound = messages(session)[0]
    assert inbound.direction is Direction.INBOUND
    assert (received.object_type, received.object_id) == ("message", str(inbound.id))
    assert received.details == {"sid": "SMaudit0001", "sender": "patient", "intent": "status"}
    assert (received.actor_user_id, received.patient_id) == (patient.user_id, patient.id)
    assert received.client_address == TWILIO_ADDRESS
    assert_no_body_or_number(received, "Status!", patient.phone, patient.phone[2:])


def test_a_questionnaire_answer_is_audited_as_an_answer_without_its_value(client, app, session, patient):
    text_in(client, app, patient.phone, "163/101")
    received, = audit(session, AuditAction.SMS_RECEIVED)
    assert received.details["intent"] == "answer"
    assert_no_body_or_number(received, "163", "101")


def test_the_reply_in_the_webhooks_answer_is_audited_as_sent(client, app, session, patient):
    response = text_in(client, app, patient.phone, "HELP")
    assert reply_of(response)
    inbound, reply = messages(session)
    assert reply.sent_as_reply and reply.patient_id == patient.id
    sent, = audit(session, AuditAction.SMS_SENT)
    assert (sent.object_id, sent.patient_id) == (str(reply.id), patient.id)
    assert sent.details == {"via": "reply", "in_reply_to": inbound.id, "to": "patient", "template": "help"}
    assert_no_body_or_number(sent, reply.body, patient.phone)


def test_received_comes_before_what_the_text_caused(client, app, session, patient):
    text_in(client, app, patient.phone, "STOP")
    assert [e.action for e in audit(session)][-3:] == [
        AuditAction.SMS_RECEIVED.value, AuditAction.SMS_OPTED_OUT.value, AuditAction.SMS_SENT.value]


def test_a_sitters_text_names_the_sitter_and_the_patient_they_sit_for(client, app, session, patient, make, clock):
    sitter = Sitter(patient_id=patient.id, full_name="Sam Sitter", phone=make.phone(), relationship_to_patient="friend",
                    phone_verified_at=clock.now(), consent_at=clock.now(), active=True, created_at=clock.now())
    session.add(sitter)
    session.commit()
    text_in(client, app, sitter.phone, "HERE")
    received, = audit(session, AuditAction.SMS_RECEIVED)
    assert received.details == {"sid": received.details["sid"], "sender": "sitter", "sitter_id": sitter.id,
                                "intent": "here"}
    assert received.patient_id == patient.id and received.actor_user_id is None


def test_a_text_from_an_unknown_number_is_audited_without_the_number(client, app, session):
    text_in(client, app, "+12015550199", "hello there")
    received, = audit(session, AuditAction.SMS_RECEIVED)
    assert received.details["sender"] == "unknown" and received.patient_id is None
    assert_no_body_or_number(received, "2015550199", "hello")
    sent, = audit(session, AuditAction.SMS_SENT)
    assert sent.details["template"] == "unknown_sender" and sent.patient_id is None


def test_a_repeated_message_sid_is_not_audited_as_received_twice(client, app, session, patient):
    text_in(client, app, patient.phone, "HELP", sid="SMtwice")
    text_in(client, app, patient.phone, "HELP", sid="SMtwice")
    assert len(audit(session, AuditAction.SMS_RECEIVED)) == 1
    assert len(audit(session, AuditAction.SMS_SENT)) == 1


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/status"])
def test_a_forged_webhook_is_refused_audited_with_its_address_and_changes_nothing_else(client, app, session,
                                                                                       patient, path):
    before = audit(session)
    params = {"MessageSid": "SMforged", "From": patient.phone, "To": CLINIC_NUMBER, "Body": "STOP",
              "MessageStatus": "failed"}
    response = client.post(path, data=params, headers={"X-Twilio-Signature": "Zm9yZ2Vk"},
                           environ_base={"REMOTE_ADDR": TWILIO_ADDRESS})
    assert response.status_code == 403
    refusal, = audit(session)[len(before):]
    assert refusal.action == AuditAction.ACCESS_REFUSED.value and refusal.actor_user_id is None
    assert refusal.client_address == TWILIO_ADDRESS
    assert refusal.details["path"] == path and refusal.object_type == "webhook"
    assert messages(session) == []


def test_a_signature_for_other_parameters_is_refused_and_audited(client, app, session, patient):
    params = {"MessageSid": "SMswap", "From": patient.phone, "To": CLINIC_NUMBER, "Body": "HELP"}
    signature = sign(app, "/twilio/sms", params)
    client.post("/twilio/sms", data={**params, "Body": "STOP"}, headers={"X-Twilio-Signature": signature})
    assert [e.action for e in audit(session, AuditAction.ACCESS_REFUSED)] == [AuditAction.ACCESS_REFUSED.value]
    assert audit(session, AuditAction.SMS_RECEIVED) == []


# --- outbound ----------------------------------------------------------------------------------

@pytest.fixture
def backend(fake_twilio):
    return TwilioBackend(fake_twilio.account_sid, fake_twilio.auth_token, messaging_service_sid="MG" + "1" * 32,
                         api_base=fake_twilio.base_url, timeout=0.5)


@pytest.fixture
def job(app, connection):
    with app.app_context():
        yield JobContext(app)


def queue(session, patient, body: str = "Lakeside Clinic: your package shipped.") -> Message:
    message = outbox.enqueue(session, to=patient.phone, sms=Sms("package_shipped", body), owner_type="shipment",
                             owner_id=None, patient_id=patient.id)
    session.commit()
    return message


def test_a_message_handed_to_twilio_is_audited_as_sent_with_its_sid(session, job, backend, fake_twilio, patient):
    message = queue(session, patient)
    assert dispatch_outbox(job, backend=backend, rng=random.Random(1)) == {"sent": 1}
    sent, = audit(session, AuditAction.SMS_SENT)
    session.refresh(message)
    assert (sent.object_type, sent.object_id, sent.patient_id) == ("message", str(message.id), patient.id)
    assert sent.details == {"via": "dispatcher", "sid": message.provider_sid, "status": "queued",
                            "template": "package_shipped", "attempts": 1, "owner_type": "shipment",
                            "owner_id": None}
    assert sent.actor_label == "system: sms dispatcher"
    assert_no_body_or_number(sent, "package shipped", patient.phone)


def test_a_retried_message_is_audited_as_sent_once(session, job, backend, fake_twilio, patient, clock):
    queue(session, patient)
    fake_twilio.plan(Reply.error(503, 20500))
    dispatch_outbox(job, backend=backend, rng=random.Random(1))
    assert audit(session, AuditAction.SMS_SENT) == []
    clock.advance(seconds=3600)
    dispatch_outbox(job, backend=backend, rng=random.Random(1))
    sent, = audit(session, AuditAction.SMS_SENT)
    assert sent.details["attempts"] == 2


def test_a_message_refused_by_twilio_is_audited_as_failed_not_sent(session, job, backend, fake_twilio, patient):
    queue(session, patient)
    fake_twilio.plan(Reply.error(400, 21211))
    dispatch_outbox(job, backend=backend, rng=random.Random(1))
    assert audit(session, AuditAction.SMS_SENT) == []
    failed, = audit(session, AuditAction.SMS_FAILED)
    assert failed.details == {"error_code": 21211, "template": "package_shipped", "status": "failed"}


@pytest.fixture
def sent(session, patient) -> Message:
    message = queue(session, patient)
    message.status, message.provider_sid = MessageStatus.SENT, "SMdelivery0001"
    session.commit()
    return message


def callback(client, app, status: str, error_code: str | None = None):
    params = {"MessageSid": "SMdelivery0001", "MessageStatus": status}
    if error_code:
        params["ErrorCode"] = error_code
    return client.post("/twilio/status", data=params, environ_base={"REMOTE_ADDR": TWILIO_ADDRESS},
                       headers={"X-Twilio-Signature": sign(app, "/twilio/status", params)})


def test_delivery_is_audited_once_however_often_twilio_reports_it(client, app, session, sent, patient):
    assert callback(client, app, "delivered").status_code == 204
    status_in(client, app, "SMdelivery0001", "delivered")
    status_in(client, app, "SMdelivery0001", "sent")  # late and out of order: changes nothing
    delivered, = audit(session, AuditAction.SMS_DELIVERED)
    assert (delivered.object_id, delivered.patient_id) == (str(sent.id), patient.id)
    assert delivered.details == {"sid": "SMdelivery0001", "template": "package_shipped"}
    assert (delivered.actor_label, delivered.client_address) == ("system: sms status callback", TWILIO_ADDRESS)


def test_a_callback_that_changes_nothing_writes_nothing(client, app, session, sent):
    before = len(audit(session))
    status_in(client, app, "SMdelivery0001", "queued")
    status_in(client, app, "SMunknown", "delivered")
    assert len(audit(session)) == before


def test_undelivered_is_audited_as_failed_with_its_status(client, app, session, sent):
    callback(client, app, "undelivered", "30003")
    failed, = audit(session, AuditAction.SMS_FAILED)
    assert failed.details == {"error_code": 30003, "template": "package_shipped", "status": "undelivered"}
    assert failed.client_address == TWILIO_ADDRESS
    assert audit(session, AuditAction.SMS_DELIVERED) == []
