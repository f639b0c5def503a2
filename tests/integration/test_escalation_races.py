"""Paging under concurrency, on a real committed database (PostgreSQL in the second run):
two ticks at once never double-page; a tick racing an acknowledgement never pages after it."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.db import database
from telehealth.escalations import operations
from telehealth.escalations.jobs import advance_escalations
from telehealth.escalations.models import EscalationEvent, EventKind
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Reason, Severity
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message, MessageStatus
from tests.conftest import Builder

ROUNDS = 12


@pytest.fixture
def world(committed_app):
    """A prescriber, a backup and ROUNDS patients, each with an urgent escalation just opened."""
    with database(committed_app).new_session() as session:
        builder = Builder(session, committed_app.extensions["account_policy"])
        prescriber, backup = builder.user(Role.PRESCRIBER), builder.user(Role.PRESCRIBER)
        settings = EscalationSettings.from_config(committed_app.config)
        ids = []
        for _ in range(ROUNDS):
            patient = builder.patient(prescriber, backup)
            ids.append(operations.raise_escalation(session, Actor.system("test"), settings, patient_id=patient.id,
                                                   reason=Reason.SOS, severity=Severity.URGENT).id)
            session.commit()
        return committed_app, prescriber.id, ids


def all_at_once(*work):
    start = threading.Barrier(len(work))
    errors = []

    def run(fn):
        try:
            start.wait()
            fn()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def page_counts(app) -> dict[int, int]:
    with database(app).new_session() as session:
        return dict(session.execute(sa.select(Message.owner_id, sa.func.count()).where(
            Message.owner_type == "escalation").group_by(Message.owner_id)).all())


def test_two_ticks_at_once_never_double_page(world, clock):
    app, _, ids = world
    assert page_counts(app) == {i: 1 for i in ids}
    for minutes, expected in ((5, 3), (10, 5)):  # at 5 and 10: prescriber and backup, once each
        clock.set(clock.now() + timedelta(minutes=5))
        with app.app_context():
            all_at_once(lambda: advance_escalations(JobContext(app)), lambda: advance_escalations(JobContext(app)))
        assert page_counts(app) == {i: expected for i in ids}, minutes


def test_a_tick_racing_an_acknowledgement_never_pages_after_it(world, clock):
    app, prescriber_id, ids = world
    clock.advance(minutes=5)  # every escalation is due
    job = JobContext(app)
    me = Actor(user_id=prescriber_id, role="prescriber", label=f"user {prescriber_id}")

    def acknowledge(escalation_id):
        def run():
            with job.transaction() as session:
                operations.acknowledge(session, me, escalation_id, channel="sms")
        return run

    def tick(escalation_id):
        def run():
            with job.transaction() as session:
                operations.advance_escalation(session, EscalationSettings.from_config(app.config), escalation_id)
        return run

    for escalation_id in ids:
        all_at_once(acknowledge(escalation_id), tick(escalation_id))
    with database(app).new_session() as session:
        for escalation_id in ids:
            events = list(session.scalars(sa.select(EscalationEvent).where(
                EscalationEvent.escalation_id == escalation_id).order_by(EscalationEvent.id)))
            acknowledged_at = next(e.id for e in events if e.kind is EventKind.ACKNOWLEDGED)
            assert all(e.id < acknowledged_at for e in events if e.kind is EventKind.PAGED)
            # Pages the tick enqueued just before the acknowledgement never leave.
            still_to_send = session.scalar(sa.select(sa.func.count()).select_from(Message).where(
                Message.owner_type == "escalation", Message.owner_id == escalation_id,
                Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING])))
            assert still_to_send == 0
    # And later ticks page nobody.
    clock.advance(minutes=30)
    with app.app_context():
        assert advance_escalations(JobContext(app)) == {}
