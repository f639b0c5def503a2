"""POST /twilio/status: signed; moves a message's status forward only; failures reach the owning room."""
import pytest

from telehealth.messaging import hooks, outbox
from telehealth.messaging.models import Message, MessageStatus, SmsConsent
from telehealth.messaging.templates import Sms
from tests.flows.sms import status_in


@pytest.fixture
def sent_message(session):
    message = outbox.enqueue(session, to="+12015550161", sms=Sms("test", "Lakeside Clinic: hello"),
                             owner_type="test-owner", owner_id=7)
    message.status, message.provider_sid = MessageStatus.SENT, "SMcallback0001"
    session.commit()
    return message


@pytest.fixture
def failures():
    seen: list[tuple[int, int | None]] = []
    hooks.on_permanent_failure("test-owner", lambda session, message: seen.append((message.owner_id,
                                                                                    message.error_code)))
    yield seen
    hooks._failure_handlers.pop("test-owner", None)


def status(session, message) -> MessageStatus:
    session.expire_all()
    return session.get(Message, message.id).status


def test_delivered_callback_marks_the_message_delivered(client, app, session, sent_message):
    assert status_in(client, app, "SMcallback0001", "delivered").status_code == 204
    assert status(session, sent_message) is MessageStatus.DELIVERED


def test_a_late_sent_callback_never_moves_delivered_back(client, app, session, sent_message):
    status_in(client, app, "SMcallback0001", "delivered")
    status_in(client, app, "SMcallback0001", "sent")
    status_in(client, app, "SMcallback0001", "queued")
    assert status(session, sent_message) is MessageStatus.DELIVERED


def test_a_repeated_failed_callback_reports_the_failure_once(client, app, session, sent_message, failures):
    status_in(client, app, "SMcallback0001", "failed", "30006")
    status_in(client, app, "SMcallback0001", "failed", "30006")
    assert status(session, sent_message) is MessageStatus.FAILED
    assert failures == [(7, 30006)]


def test_undelivered_is_final_and_reported(client, app, session, sent_message, failures):
    status_in(client, app, "SMcallback0001", "undelivered", "30003")
    status_in(client, app, "SMcallback0001", "delivered")
    assert status(session, sent_message) is MessageStatus.UNDELIVERED
    assert failures == [(7, 30003)]


def test_a_failed_callback_with_21610_marks_the_number_opted_out(client, app, session, sent_message):
    status_in(client, app, "SMcallback0001", "failed", "21610")
    session.expire_all()
    assert session.get(SmsConsent, "+12015550161").opted_out is True


def test_a_callback_for_an_unknown_sid_changes_nothing(client, app, session, sent_message):
    assert status_in(client, app, "SMunknown", "delivered").status_code == 204
    assert status(session, sent_message) is MessageStatus.SENT


def test_an_unsigned_callback_is_refused(client, session, sent_message):
    response = client.post("/twilio/status", data={"MessageSid": "SMcallback0001", "MessageStatus": "failed"})
    assert response.status_code == 403
    assert status(session, sent_message) is MessageStatus.SENT
