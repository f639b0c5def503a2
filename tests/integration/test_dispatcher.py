"""The outbox dispatcher, sending through the real twilio library to a fake Twilio on loopback."""
import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.jobs.runner import JobContext
from telehealth.messaging import dispatcher, hooks, outbox
from telehealth.messaging.backends import TransientSendError, TwilioBackend
from telehealth.messaging.dispatcher import DispatchPolicy
from telehealth.messaging.jobs import dispatch_outbox
from telehealth.messaging.models import Message, MessageStatus, SmsConsent
from telehealth.messaging.templates import Sms
from tests.fakes.twilio_server import Reply

ALICE, BOB = "+12015550161", "+12015550162"


@pytest.fixture
def backend(fake_twilio):
    return TwilioBackend(fake_twilio.account_sid, fake_twilio.auth_token, messaging_service_sid="MG" + "1" * 32,
                         api_base=fake_twilio.base_url, timeout=0.5)


@pytest.fixture
def job(app, connection):
    with app.app_context():
        yield JobContext(app)


@pytest.fixture
def failures():
    seen = []
    hooks.on_permanent_failure("test-owner", lambda session, message: seen.append(
        (message.owner_id, message.error_code)))
    yield seen
    hooks._failure_handlers.pop("test-owner", None)


def queue(session, to, body, **owner):
    message = outbox.enqueue(session, to=to, sms=Sms("test", body), **owner)
    session.commit()
    return message


def run(job, backend, seed=1):
    return dispatch_outbox(job, backend=backend, rng=random.Random(seed))


def row(session, message) -> Message:
    session.expire_all()
    return session.get(Message, message.id)


def test_a_queued_message_is_sent_with_to_body_sender_and_status_callback(session, job, backend, fake_twilio):
    message = queue(session, ALICE, "Lakeside Clinic: hello")
    assert run(job, backend) == {"sent": 1}
    request, = fake_twilio.sent
    assert request["To"] == ALICE and request["Body"] == "Lakeside Clinic: hello"
    assert request["MessagingServiceSid"] == "MG" + "1" * 32 and request["From"] is None
    assert request["StatusCallback"] == "http://localhost/twilio/status"
    stored = row(session, message)
    assert stored.status is MessageStatus.SENT and stored.provider_sid == request["sid"]
    assert stored.provider_status == "queued" and stored.attempts == 1


def test_a_from_number_is_used_when_there_is_no_messaging_service(session, job, fake_twilio):
    backend = TwilioBackend(fake_twilio.account_sid, fake_twilio.auth_token, from_number="+12015550100",
                            api_base=fake_twilio.base_url)
    queue(session, ALICE, "Lakeside Clinic: hello")
    run(job, backend)
    assert fake_twilio.sent[0]["From"] == "+12015550100"


@pytest.mark.parametrize("reply", [Reply.error(429, 20429), Reply.error(500, 20500), Reply.error(503, 20500),
                                   Reply.slow(2.0)], ids=["429", "500", "503", "timeout"])
def test_transient_failures_are_retried_after_a_backoff(session, job, backend, fake_twilio, clock, reply):
    fake_twilio.plan(reply)
    message = queue(session, ALICE, "Lakeside Clinic: hello")
    assert run(job, backend) == {"retry": 1}
    waiting = row(session, message)
    assert waiting.status is MessageStatus.QUEUED and waiting.attempts == 1
    policy = DispatchPolicy.from_config(job.config)
    delay = waiting.next_attempt_at - clock.now()
    assert policy.retry_base / 2 <= delay <= policy.retry_base
    assert run(job, backend) == {}  # not before its time
    clock.advance(delay)
    assert run(job, backend) == {"sent": 1}
    assert row(session, message).status is MessageStatus.SENT and row(session, message).attempts == 2


def test_the_backoff_grows_exponentially_up_to_the_cap():
    policy = DispatchPolicy(max_attempts=8, retry_base=timedelta(seconds=2), retry_max=timedelta(seconds=60),
                            lease=timedelta(seconds=60), batch_size=10, status_callback_url=None)
    rng = random.Random(3)
    ceilings = [max(policy.backoff(n, rng) for _ in range(200)) for n in (1, 2, 3, 4, 10)]
    assert ceilings[0] <= timedelta(seconds=2) < ceilings[1] <= timedelta(seconds=4) < ceilings[2]
    assert ceilings[-1] <= timedelta(seconds=60)


def test_after_the_last_attempt_a_transient_failure_is_final(session, job, backend, fake_twilio, clock, failures):
    attempts = job.config["SMS_MAX_ATTEMPTS"]
    fake_twilio.plan(*[Reply.error(500, 20500)] * attempts)
    message = queue(session, ALICE, "Lakeside Clinic: page", owner_type="test-owner", owner_id=41)
    for _ in range(attempts):
        run(job, backend)
        clock.advance(minutes=10)
    stored = row(session, message)
    assert stored.status is MessageStatus.FAILED and stored.attempts == attempts
    assert failures == [(41, 20500)]
    assert len(fake_twilio.requests) == attempts


@pytest.mark.parametrize("code", [21211, 21614, 21610])
def test_permanent_errors_fail_at_once_and_tell_the_owning_room(session, job, backend, fake_twilio, failures, code):
    fake_twilio.plan(Reply.error(400, code))
    message = queue(session, ALICE, "Lakeside Clinic: page", owner_type="test-owner", owner_id=42)
    assert run(job, backend) == {"failed": 1}
    stored = row(session, message)
    assert stored.status is MessageStatus.FAILED and stored.error_code == code
    assert failures == [(42, code)]
    assert len(fake_twilio.requests) == 1


def test_21610_marks_the_number_opted_out_and_nothing_more_is_sent(session, job, backend, fake_twilio, failures):
    fake_twilio.plan(Reply.error(400, 21610))
    queue(session, ALICE, "Lakeside Clinic: first")
    run(job, backend)
    session.expire_all()
    assert session.get(SmsConsent, ALICE).opted_out is True
    later = queue(session, ALICE, "Lakeside Clinic: second", owner_type="test-owner", owner_id=43)
    assert run(job, backend) == {"not sent": 1}
    assert row(session, later).status is MessageStatus.FAILED
    assert len(fake_twilio.requests) == 1  # no network call for the second
    assert failures[-1] == (43, 21610)


def test_messages_to_one_recipient_leave_in_order(session, job, backend, fake_twilio, clock):
    fake_twilio.plan(Reply.error(429, 20429))
    first = queue(session, ALICE, "Lakeside Clinic: one")
    second = queue(session, ALICE, "Lakeside Clinic: two")
    other = queue(session, BOB, "Lakeside Clinic: for Bob")
    run(job, backend)
    # The first to Alice must wait and retry; the second waits behind it; Bob is not held up.
    assert row(session, second).status is MessageStatus.QUEUED
    assert row(session, other).status is MessageStatus.SENT
    clock.advance(minutes=1)
    run(job, backend)
    assert [r["Body"] for r in fake_twilio.sent if r["To"] == ALICE] == ["Lakeside Clinic: one",
                                                                        "Lakeside Clinic: two"]
    assert row(session, first).status is row(session, second).status is MessageStatus.SENT


def test_a_dispatcher_killed_between_claim_and_send_loses_nothing(session, job, backend, fake_twilio, clock):
    message = queue(session, ALICE, "Lakeside Clinic: hello")
    policy = DispatchPolicy.from_config(job.config)
    with job.transaction() as claiming:
        assert [c.id for c in dispatcher.claim_due(claiming, policy)] == [message.id]
    # ...the dispatcher dies here, before sending. Its lease still holds the row:
    assert run(job, backend) == {}
    clock.advance(policy.lease)
    assert run(job, backend) == {"sent": 1}
    assert len(fake_twilio.sent) == 1 and row(session, message).status is MessageStatus.SENT


def test_a_stale_claim_cannot_overwrite_a_newer_dispatchers_result(session, job, backend, clock):
    message = queue(session, ALICE, "Lakeside Clinic: hello")
    policy = DispatchPolicy.from_config(job.config)
    with job.transaction() as s:
        stale, = dispatcher.claim_due(s, policy)
    clock.advance(policy.lease)
    assert run(job, backend) == {"sent": 1}
    with job.transaction() as s:
        assert dispatcher.record_send_error(s, stale, TransientSendError("late"), policy, random.Random(0)) == "lost"
    assert row(session, message).status is MessageStatus.SENT


def test_with_30_percent_of_responses_failing_every_message_is_sent_once(session, job, backend, fake_twilio, clock):
    fake_twilio.fail_randomly(0.3, seed=7)
    bodies = [f"Lakeside Clinic: message {n}" for n in range(60)]
    for n, body in enumerate(bodies):
        queue(session, f"+1201555{161 + n % 6:04d}", body)
    for _ in range(60):
        run(job, backend, seed=_)
        clock.advance(minutes=5)
        session.expire_all()
        if not session.scalar(sa.select(sa.func.count()).select_from(Message)
                              .where(Message.status != MessageStatus.SENT)):
            break
    sent_bodies = [r["Body"] for r in fake_twilio.sent]
    assert sorted(sent_bodies) == sorted(bodies)  # each exactly once, none lost
    assert len(fake_twilio.requests) > len(bodies)  # failures really happened
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)
                          .where(Message.status == MessageStatus.SENT)) == len(bodies)
