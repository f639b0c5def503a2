"""The SMS backends, through real HTTP on loopback with the real `twilio` library (no mocks of it).

No database: these tests use only the fake Twilio server.
"""
from __future__ import annotations

import logging
import socket
import time

import pytest

from telehealth.messaging.backends import (
    ConsoleBackend,
    PermanentSendError,
    SendResult,
    TransientSendError,
    TwilioBackend,
    backend_from_config,
)
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Reply

PATIENT = "+15555550123"  # fictional (555-01xx)
CLINIC_NUMBER = "+15005550006"
SERVICE_SID = "MG" + "1" * 32
CALLBACK = "http://127.0.0.1/sms/status"
BODY = "Your appointment is confirmed for Friday at 10:00."


def twilio_backend(fake: FakeTwilio, **overrides) -> TwilioBackend:
    options = {"messaging_service_sid": SERVICE_SID, "api_base": fake.base_url, "timeout": 2.0, **overrides}
    return TwilioBackend(ACCOUNT_SID, AUTH_TOKEN, **options)


def send(backend, status_callback: str | None = CALLBACK) -> SendResult:
    return backend.send(to=PATIENT, body=BODY, status_callback=status_callback)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# what goes over the wire

def test_the_rest_call_carries_to_body_status_callback_and_messaging_service_sid(fake_twilio):
    send(twilio_backend(fake_twilio))

    [request] = fake_twilio.requests
    assert request["To"] == PATIENT
    assert request["Body"] == BODY
    assert request["StatusCallback"] == CALLBACK
    assert request["MessagingServiceSid"] == SERVICE_SID
    assert request["From"] is None
    assert request["account_sid"] == ACCOUNT_SID
    assert request["content_type"] == "application/x-www-form-urlencoded"


def test_from_is_sent_when_only_a_from_number_is_configured(fake_twilio):
    send(twilio_backend(fake_twilio, messaging_service_sid=None, from_number=CLINIC_NUMBER))

    [request] = fake_twilio.requests
    assert request["From"] == CLINIC_NUMBER
    assert request["MessagingServiceSid"] is None


def test_no_status_callback_is_sent_when_none_is_given(fake_twilio):
    send(twilio_backend(fake_twilio), status_callback=None)

    [request] = fake_twilio.requests
    assert "StatusCallback" not in request["form"]


def test_basic_auth_uses_the_account_sid(fake_twilio):
    send(twilio_backend(fake_twilio))

    [request] = fake_twilio.requests
    assert request["auth_user"] == ACCOUNT_SID
    assert request["response_status"] == 201  # the fake also checked the token


def test_the_send_result_has_the_fakes_sid_and_status_queued(fake_twilio):
    result = send(twilio_backend(fake_twilio))

    [sent] = fake_twilio.sent
    assert result == SendResult(sid=sent["sid"], provider_status="queued")
    assert result.sid.startswith("SM") and len(result.sid) == 34


# transient failures

def test_429_is_a_transient_error_with_code_20429(fake_twilio):
    fake_twilio.plan(Reply.error(429, 20429))

    with pytest.raises(TransientSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert caught.value.code == 20429
    assert caught.value.transient is True


def test_500_is_a_transient_error(fake_twilio):
    fake_twilio.plan(Reply.error(500, 20500))

    with pytest.raises(TransientSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert caught.value.code == 20500


def test_the_twilio_client_does_not_retry_by_itself(fake_twilio):
    fake_twilio.plan(Reply.error(500, 20500), Reply.error(429, 20429))

    with pytest.raises(TransientSendError):
        send(twilio_backend(fake_twilio))
    assert len(fake_twilio.requests) == 1
    assert fake_twilio.pending == 1


def test_a_slow_answer_beyond_the_timeout_is_a_transient_error(fake_twilio):
    fake_twilio.plan(Reply.slow(2.0))
    backend = twilio_backend(fake_twilio, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(TransientSendError) as caught:
        send(backend)
    assert time.monotonic() - started < 1.5
    assert caught.value.code is None


def test_connection_refused_is_a_transient_error():
    backend = TwilioBackend(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid=SERVICE_SID,
                            api_base=f"http://127.0.0.1:{closed_port()}", timeout=0.5)

    with pytest.raises(TransientSendError) as caught:
        send(backend)
    assert caught.value.code is None


def test_a_connection_closed_without_an_answer_is_a_transient_error(fake_twilio):
    fake_twilio.plan(Reply.hang_up())

    with pytest.raises(TransientSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert caught.value.code is None


# permanent failures

def test_400_with_21211_invalid_number_is_a_permanent_error(fake_twilio):
    fake_twilio.plan(Reply.error(400, 21211))

    with pytest.raises(PermanentSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert caught.value.code == 21211
    assert caught.value.transient is False


def test_21610_unsubscribed_recipient_is_a_permanent_error(fake_twilio):
    fake_twilio.plan(Reply.error(400, 21610))

    with pytest.raises(PermanentSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert caught.value.code == 21610


def test_wrong_credentials_are_a_permanent_error(fake_twilio):
    backend = TwilioBackend(ACCOUNT_SID, "not-the-token", messaging_service_sid=SERVICE_SID,
                            api_base=fake_twilio.base_url)

    with pytest.raises(PermanentSendError) as caught:
        send(backend)
    assert caught.value.code == 20003
    assert fake_twilio.sent == []


def test_an_error_message_quoting_the_number_keeps_only_its_last_four_digits(fake_twilio):
    fake_twilio.plan(Reply.error(400, 21211, f"The 'To' number {PATIENT} is not a valid phone number."))

    with pytest.raises(PermanentSendError) as caught:
        send(twilio_backend(fake_twilio))
    assert PATIENT not in caught.value.message
    assert "0123" in caught.value.message


# no PHI, no secrets in logs

def test_the_twilio_backend_logs_neither_token_nor_body_nor_full_number(fake_twilio, caplog):
    fake_twilio.plan(Reply.success(), Reply.error(400, 21211, f"The 'To' number {PATIENT} is not valid."))
    backend = twilio_backend(fake_twilio)

    with caplog.at_level(logging.DEBUG):
        send(backend)
        with pytest.raises(PermanentSendError):
            send(backend)
    assert caplog.records
    assert AUTH_TOKEN not in caplog.text
    assert BODY not in caplog.text
    assert PATIENT not in caplog.text


def test_the_console_backend_sends_nothing_and_logs_neither_body_nor_full_number(caplog, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the console backend opened a connection")
    monkeypatch.setattr(socket.socket, "connect", no_network)

    with caplog.at_level(logging.INFO, logger="telehealth.messaging.console"):
        result = send(ConsoleBackend())

    assert result.provider_status == "sent"
    assert result.sid.startswith("CONSOLE") and len(result.sid) == len("CONSOLE") + 32
    [line] = [record.getMessage() for record in caplog.records]
    assert "0123" in line
    assert BODY not in line and PATIENT not in line and PATIENT[1:] not in line


# choosing a backend

def test_backend_from_config_picks_the_console_backend():
    assert isinstance(backend_from_config({"SMS_BACKEND": "console"}), ConsoleBackend)


def test_backend_from_config_picks_the_twilio_backend(fake_twilio):
    backend = backend_from_config({
        "SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_MESSAGING_SERVICE_SID": None, "TWILIO_FROM_NUMBER": CLINIC_NUMBER,
        "TWILIO_API_BASE": fake_twilio.base_url, "TWILIO_HTTP_TIMEOUT_SECONDS": 3,
    })

    assert isinstance(backend, TwilioBackend)
    assert backend.timeout == 3.0
    send(backend)
    assert fake_twilio.sent[0]["From"] == CLINIC_NUMBER


def test_backend_from_config_defaults_the_twilio_timeout_to_ten_seconds():
    backend = backend_from_config({"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                                   "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": CLINIC_NUMBER})

    assert backend.timeout == 10.0


def test_backend_from_config_refuses_an_unknown_sms_backend():
    with pytest.raises(ValueError, match="SMS_BACKEND"):
        backend_from_config({"SMS_BACKEND": "carrier-pigeon"})


# the fake itself: random failures are reproducible

def test_the_fakes_random_failures_follow_the_seed():
    def outcomes() -> list[int]:
        with FakeTwilio(fail_ratio=0.3, seed=7) as fake:
            backend = twilio_backend(fake)
            for _ in range(20):
                try:
                    send(backend)
                except TransientSendError:
                    pass
            return [request["response_status"] for request in fake.requests]

    first = outcomes()
    assert first == outcomes()
    assert set(first) <= {201, 429, 500} and 201 in first and len(set(first)) > 1
