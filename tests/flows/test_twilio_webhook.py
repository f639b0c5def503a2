"""POST /twilio/sms: signed, stored once under its MessageSid, parsed, routed, answered in TwiML."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.messaging.models import Direction, Message, MessageStatus, SmsConsent
from tests.flows.sms import CLINIC_NUMBER, reply_of, sign, text_in


def messages(session) -> list[Message]:
    session.expire_all()
    return list(session.scalars(sa.select(Message).order_by(Message.id)))


def audit_actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def patient(make):
    return make.patient(make.user(Role.PRESCRIBER))


def test_help_from_a_patient_lists_what_a_patient_can_text(client, app, patient, session):
    response = text_in(client, app, patient.phone, "help")
    assert response.status_code == 200 and response.mimetype == "text/xml"
    reply = reply_of(response)
    assert reply.startswith("Lakeside Clinic: ") and "READY" in reply and "TAKEN" in reply
    inbound, outbound = messages(session)
    assert inbound.direction is Direction.INBOUND and inbound.status is MessageStatus.RECEIVED
    assert outbound.sent_as_reply and outbound.to_phone == patient.phone and outbound.template == "help"


def test_help_from_a_prescriber_explains_ack_and_resolve(client, app, make):
    prescriber = make.user(Role.PRESCRIBER)
    assert "ACK" in reply_of(text_in(client, app, prescriber.phone, "HELP"))


def test_a_forged_signature_is_refused_and_nothing_is_stored(client, app, patient, session):
    response = text_in(client, app, patient.phone, "HELP", signature="Zm9yZ2Vk")
    assert response.status_code == 403
    assert messages(session) == []


def test_a_missing_signature_is_refused_and_nothing_is_stored(client, app, patient, session):
    response = client.post("/twilio/sms", data={"MessageSid": "SM1", "From": patient.phone, "Body": "STOP"})
    assert response.status_code == 403
    assert messages(session) == [] and session.scalar(sa.select(sa.func.count()).select_from(SmsConsent)) == 0


def test_a_signature_for_other_parameters_is_refused(client, app, patient, session):
    params = {"MessageSid": "SM2", "From": patient.phone, "To": CLINIC_NUMBER, "Body": "HELP"}
    signature = sign(app, "/twilio/sms", params)
    response = client.post("/twilio/sms", data={**params, "Body": "STOP"}, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403 and messages(session) == []


def test_the_signature_is_checked_against_the_public_url_behind_a_proxy(client, app, patient):
    # The proxy hands us http://internal-host/..., Twilio signed https://public/...: still valid.
    params = {"MessageSid": "SM3", "From": patient.phone, "To": CLINIC_NUMBER, "Body": "HELP"}
    response = client.post("/twilio/sms", data=params, base_url="http://10.0.0.7:8000",
                           headers={"X-Twilio-Signature": sign(app, "/twilio/sms", params)})
    assert response.status_code == 200


def test_the_query_string_is_part_of_what_is_signed(client, app, patient):
    params = {"MessageSid": "SM4", "From": patient.phone, "To": CLINIC_NUMBER, "Body": "HELP"}
    good = sign(app, "/twilio/sms?clinic=lakeside", params)
    assert client.post("/twilio/sms?clinic=lakeside", data=params, headers={"X-Twilio-Signature": good}
                       ).status_code == 200
    assert client.post("/twilio/sms?clinic=other", data={**params, "MessageSid": "SM5"},
                       headers={"X-Twilio-Signature": good}).status_code == 403


def test_a_repeated_message_sid_is_answered_but_acted_on_once(client, app, patient, session):
    first = text_in(client, app, patient.phone, "STOP", sid="SMrepeat")
    second = text_in(client, app, patient.phone, "STOP", sid="SMrepeat")
    assert first.status_code == second.status_code == 200
    assert reply_of(first) and reply_of(second) == ""
    assert [m.direction for m in messages(session)] == [Direction.INBOUND, Direction.OUTBOUND]
    assert audit_actions(session).count(AuditAction.SMS_OPTED_OUT.value) == 1


def test_an_unknown_number_gets_a_neutral_reply(client, app, session):
    reply = reply_of(text_in(client, app, "+12015550199", "READY"))
    assert "could not match this number" in reply
    assert "Pat" not in reply


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                                  "REVOKE", "OPTOUT"])
def test_every_opt_out_word_opts_the_number_out_and_is_recorded(client, app, patient, session, word):
    reply = reply_of(text_in(client, app, patient.phone, word))
    assert "unsubscribed" in reply
    session.expire_all()
    assert session.get(SmsConsent, patient.phone).opted_out is True
    assert AuditAction.SMS_OPTED_OUT.value in audit_actions(session)


@pytest.mark.parametrize("word", ["START", "UNSTOP", "YES", "yes!"])
def test_start_unstop_and_yes_opt_back_in(client, app, patient, session, word):
    text_in(client, app, patient.phone, "STOP")
    assert "subscribed again" in reply_of(text_in(client, app, patient.phone, word))
    session.expire_all()
    assert session.get(SmsConsent, patient.phone).opted_out is False


def test_an_opted_out_number_gets_no_reply_except_to_help(client, app, patient):
    text_in(client, app, patient.phone, "STOP")
    assert reply_of(text_in(client, app, patient.phone, "READY")) == ""
    assert "READY" in reply_of(text_in(client, app, patient.phone, "HELP"))


@pytest.mark.parametrize("text", ["I want to kill myself", "i cant breathe", "CHEST PAIN and dizzy",
                                  "I think I overdosed"])
def test_a_crisis_phrase_in_any_text_gets_the_crisis_reply_and_an_alert(client, app, patient, session, text):
    reply = reply_of(text_in(client, app, patient.phone, text))
    assert "988" in reply and "911" in reply
    alert = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.SAFETY_ALERT.value))
    assert alert.details == {"reason": "crisis_phrase", "party": "patient"} and alert.patient_id == patient.id


def test_a_crisis_phrase_from_an_unknown_number_still_gets_the_crisis_reply(client, app):
    assert "988" in reply_of(text_in(client, app, "+12015550198", "I want to end my life"))


def test_sos_tells_them_to_call_911_and_raises_an_alert(client, app, patient, session):
    reply = reply_of(text_in(client, app, patient.phone, "sos!"))
    assert "Call 911 now" in reply
    alert = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.SAFETY_ALERT.value))
    assert alert.details["reason"] == "sos"


@pytest.mark.parametrize("text", ["asdfgh", "RECEIVED 8", "what is this", "x" * 5000, "🙂👍", "<script>", "\u0000"])
def test_junk_and_unhandled_texts_get_a_helpful_reply_and_change_nothing(client, app, patient, session, text):
    response = text_in(client, app, patient.phone, text)
    assert response.status_code == 200
    assert reply_of(response).startswith("Lakeside Clinic: ")
    assert session.scalar(sa.select(sa.func.count()).select_from(SmsConsent)) == 0


def test_a_malformed_keyword_is_told_what_to_send(client, app, patient):
    assert "RECEIVED 8" in reply_of(text_in(client, app, patient.phone, "RECEIVED"))


def test_a_picture_without_text_is_told_we_read_only_text(client, app, patient):
    reply = reply_of(text_in(client, app, patient.phone, "", NumMedia="1", MediaUrl0="https://example.org/x.jpg"))
    assert "only read text" in reply


def test_a_message_without_a_sid_is_ignored(client, app, patient, session):
    params = {"From": patient.phone, "To": CLINIC_NUMBER, "Body": "HELP"}
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": sign(app, "/twilio/sms",
                                                                                           params)})
    assert response.status_code == 200 and messages(session) == []


def test_a_sender_number_in_an_odd_format_is_still_recognised(client, app, patient):
    # Twilio sends E.164, but a national format must not make a patient a stranger.
    national = f"({patient.phone[2:5]}) {patient.phone[5:8]}-{patient.phone[8:]}"
    assert "READY" in reply_of(text_in(client, app, national, "HELP"))
