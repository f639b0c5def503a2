"""SPEC §1 and §5 under pressure: a sitter the clinic removed after HERE is not the one a patient is
cleared on, and a new alarm on an acknowledged urgent or high alert pages again (a second check
unanswered, an urgent pressure at release after an acknowledged finding)."""
from datetime import timedelta

import pytest

from telehealth.dosing.operations import Outcome
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


@pytest.fixture
def opened(session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    return booked


def test_a_sitter_deactivated_after_here_is_not_the_one_the_patient_is_cleared_on(session, c, opened):
    from telehealth.accounts.sitters import deactivate_sitter
    w.here(session, c)
    deactivate_sitter(session, c.doctor, c.sitter.id)
    session.commit()
    result = w.pre_dose(session, c)
    assert result.outcome is not Outcome.CLEARED


def _pages(session, c) -> int:
    import sqlalchemy as sa
    from telehealth.messaging.models import Message
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(Message).where(
        Message.owner_type == "escalation", Message.to_phone == c.prescriber.phone))


def _triggers(session, c, reason: str) -> int:
    import sqlalchemy as sa
    from telehealth.escalations.models import Escalation
    session.expire_all()
    return sum(session.scalars(sa.select(Escalation.trigger_count).where(
        Escalation.patient_id == c.patient.id, Escalation.reason == reason)))


def _acknowledge_all(session, c) -> None:
    import sqlalchemy as sa
    from telehealth.escalations import operations as escalations
    from telehealth.escalations.models import Escalation
    from telehealth.escalations.rules import State
    for escalation_id in session.scalars(sa.select(Escalation.id).where(Escalation.patient_id == c.patient.id,
                                                                        Escalation.state == State.OPEN)):
        escalations.acknowledge(session, c.doctor, escalation_id, channel="web")
    session.commit()


def test_a_second_unanswered_observation_check_after_the_first_was_acknowledged_pages(session, c, clock):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 41 * MINUTE, clock)   # the 30-minute check unanswered
    assert ("missed_observation_check", "high") in w.escalations_of(session, dosed)
    assert _pages(session, c) == 1
    _acknowledge_all(session, c)
    w.walk_to(session, c, dosed.dosed_at + 71 * MINUTE, clock)   # the 60-minute check unanswered too
    assert _triggers(session, c, "missed_observation_check") == 2   # seen, added to the acknowledged one
    assert _pages(session, c) == 2


def test_an_urgent_pressure_at_release_after_an_acknowledged_urgent_finding_pages(session, c, clock):
    dosed = w.dosed_session(session, c, clock)
    for minutes in (30, 60, 90):
        w.walk_to(session, c, dosed.dosed_at + minutes * MINUTE, clock)
        w.ok(session, c)
        if minutes == 60:
            w.post_dose(session, c, {**w.GOOD_POST_DOSE, "chest_pain": "Y"})
    assert ("adverse_finding", "urgent") in w.escalations_of(session, dosed)
    pages = _pages(session, c)
    _acknowledge_all(session, c)
    w.walk_to(session, c, dosed.dosed_at + 120 * MINUTE, clock)
    assert w.ok(session, c, reading="196/118").outcome is Outcome.RELEASE_URGENT
    assert _triggers(session, c, "adverse_finding") == 2   # seen, added to the acknowledged one
    assert _pages(session, c) == pages + 1
