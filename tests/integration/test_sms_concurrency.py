"""Concurrency on a real, committed database (SQLite file or PostgreSQL, whichever this run uses)."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.db import database
from telehealth.messaging import outbox
from telehealth.messaging.models import Direction, Message, MessageStatus
from telehealth.messaging.templates import Sms
from tests.conftest import Builder
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN
from tests.flows.sms import reply_of, text_in

ROOT = Path(__file__).resolve().parents[2]


def count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_two_deliveries_of_one_message_sid_at_the_same_instant_are_acted_on_once(committed_app):
    with database(committed_app).new_session() as session:
        builder = Builder(session, committed_app.extensions["account_policy"])
        patient = builder.patient(builder.user(Role.PRESCRIBER))
        phone = patient.phone
    start = threading.Barrier(2)
    responses = []

    def deliver():
        client = committed_app.test_client()
        start.wait()
        responses.append(text_in(client, committed_app, phone, "STOP", sid="SMsameinstant"))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.status_code for r in responses] == [200, 200]
    assert sorted(bool(reply_of(r)) for r in responses) == [False, True]  # one acted on, one only acknowledged
    with database(committed_app).new_session() as session:
        assert count(session, Message, Message.direction == Direction.INBOUND) == 1
        assert count(session, AuditEvent, AuditEvent.action == AuditAction.SMS_OPTED_OUT.value) == 1


def test_two_scheduler_processes_send_each_queued_message_once(committed_app, scratch_database_url, fake_twilio,
                                                               tmp_path):
    recipients = [f"+1201555{160 + n:04d}" for n in range(10)]
    with database(committed_app).new_session() as session:
        for n in range(100):
            outbox.enqueue(session, to=recipients[n % 10], sms=Sms("test", f"Lakeside Clinic: message {n:03d}"))
        session.commit()
    fake_twilio.fail_randomly(0.2, seed=11)  # some retries, to mix the two processes' work
    env = {**os.environ, "TELEHEALTH_PROFILE": "testing", "DATABASE_URL": scratch_database_url,
           "SMS_BACKEND": "twilio", "TWILIO_API_BASE": fake_twilio.base_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_FROM_NUMBER": "+12015550100",
           "SMS_DISPATCH_INTERVAL_SECONDS": "0.2", "SMS_DISPATCH_BATCH": "5", "SMS_RETRY_BASE_SECONDS": "0.2",
           "SMS_RETRY_MAX_SECONDS": "1", "PYTHONUNBUFFERED": "1"}
    logs = [tmp_path / f"scheduler{n}.log" for n in range(2)]
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], cwd=ROOT, env=env,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            # A fresh, short transaction each time: a poller holding one open would block the writers.
            with database(committed_app).new_session() as session:
                if count(session, Message, Message.status != MessageStatus.SENT) == 0:
                    break
            time.sleep(0.2)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    output = "\n".join(log.read_text() for log in logs)
    sent = [request["Body"] for request in fake_twilio.sent]
    assert len(sent) == 100, output[-3000:]
    assert len(set(sent)) == 100  # nothing twice
    for recipient in recipients:  # and each recipient's messages in order
        theirs = [r["Body"] for r in fake_twilio.sent if r["To"] == recipient]
        assert theirs == sorted(theirs)
    assert all("scheduler running" in log.read_text() for log in logs)
