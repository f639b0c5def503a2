"""STATUS (SPEC §6): the patient's next session and what is due now, and the sitter's, in the
patient's local time. Every summary must fit the `status` text: the clinic's name, no drug, dose or
diagnosis words, at most two segments."""
from datetime import timedelta

import pytest

from telehealth import clock as clock_module
from telehealth.accounts.models import Sitter
from telehealth.dosing import checkins, status
from telehealth.dosing.models import Channel
from telehealth.dosing.rules import Questionnaire
from telehealth.messaging import templates
from telehealth.messaging.templates import segments
from tests.integration import dosing_world as world
from tests.unit.test_sms_templates import CLINIC, FORBIDDEN


@pytest.fixture
def c(app, session, make):
    return world.course(app, session, make)   # America/Chicago; it is 9:00 AM CST


@pytest.fixture
def booked(session, c, clock):
    return world.book(session, c, clock.now() + timedelta(hours=2))   # 11:00 AM CST


@pytest.fixture
def opened(session, c, booked, clock):
    world.open_window(session, c, booked, clock)   # 10:30 AM CST
    return booked


@pytest.fixture
def dosed(session, c, opened):
    world.here(session, c)
    world.pre_dose(session, c)
    checkins.taken(session, c.me, c.settings, c.patient.id, channel=Channel.WEB)   # at 10:30 AM
    session.commit()
    return opened


def fits_a_text(summary: str) -> str:
    body = templates.status(CLINIC, summary).body
    assert FORBIDDEN.search(body) is None, body
    assert segments(body) <= 2, (len(body), body)
    return summary


def patient(session, c) -> str:
    session.expire_all()
    return fits_a_text(status.patient_summary(session, c.settings, c.patient.id))


def sitter(session, c, sitter_id: int | None = None) -> str:
    session.expire_all()
    return fits_a_text(status.sitter_summary(session, c.settings, sitter_id or c.sitter.id))


# --- the patient -----------------------------------------------------------------------------------

def test_with_nothing_booked_the_patient_is_told_so(session, c):
    assert patient(session, c) == status.NOTHING_BOOKED


def test_a_booked_session_is_named_with_its_day_and_when_check_in_opens(session, c, booked):
    assert patient(session, c) == ("Your next session is Fri 20 Nov 11:00 AM CST. Your check-in opens at 10:30 AM: "
                                   "text READY then, with your sitter there.")


def test_a_session_on_another_day_gives_the_day_for_the_check_in_too(session, c, clock):
    world.book(session, c, clock.now() + timedelta(days=3))
    assert patient(session, c) == ("Your next session is Mon 23 Nov 9:00 AM CST. Your check-in opens at "
                                   "Mon 23 Nov 8:30 AM CST: text READY then, with your sitter there.")


def test_times_are_in_the_patients_own_zone(app, session, make, clock):
    far = world.course(app, session, make, timezone_name="America/Anchorage")
    world.book(session, far, clock.now() + timedelta(hours=2))
    assert patient(session, far).startswith("Your next session is Fri 20 Nov 8:00 AM AKST.")


def test_an_open_window_asks_for_ready_and_the_sitter(session, c, opened):
    assert patient(session, c) == ("Your session at 11:00 AM is open: text READY for your check-in, by 11:30 AM. "
                                   "Your sitter texts HERE when they arrive.")


def test_a_check_in_under_way_asks_for_the_next_answer(session, c, opened):
    world.here(session, c)
    checkins.start(session, c.me, c.settings, c.patient.id)
    session.commit()
    assert patient(session, c) == ("Your session at 11:00 AM is open and your check-in is under way: text READY "
                                   "for the next question, by 11:30 AM. Your sitter is there.")


def test_a_finished_check_in_waits_for_the_sitter(session, c, opened):
    world.pre_dose(session, c)
    assert patient(session, c) == "Your check-in is complete. You will be cleared when your sitter texts HERE, " \
                                  "by 11:30 AM."


def test_cleared_says_to_text_taken_by_when(session, c, opened):
    world.here(session, c)
    world.pre_dose(session, c)
    assert patient(session, c) == ("You are cleared for your session at 11:00 AM. Text TAKEN once you have taken "
                                   "it, by 11:00 AM.")


def test_on_hold_says_not_to_take_it(session, c, opened):
    world.pre_dose(session, c, {**world.GOOD_PRE_DOSE, "substances": "Y"})
    assert "on hold. Please do not take it." in patient(session, c)


def test_after_the_dose_says_when_the_after_session_check_in_opens(session, c, dosed, clock):
    clock.advance(timedelta(minutes=59))
    assert patient(session, c) == "Rest with your sitter. Your after-session check-in opens at 11:30 AM."


def test_at_the_post_dose_time_says_it_is_due_now(session, c, dosed, clock):
    clock.advance(timedelta(minutes=60))
    assert patient(session, c) == "Your after-session check-in is due now. With your sitter there, text READY " \
                                  "to start."


def test_after_the_post_dose_report_says_from_when_release_may_come_and_the_next_session(session, c, dosed, clock):
    world.book(session, c, clock.now() + timedelta(days=4))
    clock.advance(timedelta(minutes=60))
    checkins.submit(session, c.me, c.settings, c.patient.id, Questionnaire.POST_DOSE, world.GOOD_POST_DOSE,
                    channel=Channel.WEB)
    session.commit()
    assert patient(session, c) == ("Your after-session check-in is recorded. Rest with your sitter; they can "
                                   "release you from 12:30 PM. Next session: Tue 24 Nov 10:30 AM CST.")


# --- the sitter ----------------------------------------------------------------------------------------

def test_a_sitter_with_nothing_booked_is_told_so(session, c):
    assert sitter(session, c) == status.SITTER_NOTHING_BOOKED


def test_a_sitter_not_named_for_the_session_is_told_so(session, make, c, booked):
    other = Sitter(patient_id=c.patient.id, full_name="Sam Other", phone=make.phone(), relationship_to_patient="friend",
                   phone_verified_at=clock_module.now(), consent_at=clock_module.now(), active=True,
                   created_at=clock_module.now())
    session.add(other)
    session.commit()
    assert sitter(session, c, other.id) == status.NOT_NAMED_SITTER


def test_a_sitter_before_the_window_is_told_when_to_text_here(session, c, booked):
    assert sitter(session, c) == "The next session you sit for is Fri 20 Nov 11:00 AM CST. Text HERE when you " \
                                 "arrive, from 10:30 AM."


def test_a_sitter_in_an_open_window_is_asked_for_here_by_when(session, c, opened):
    assert sitter(session, c) == "The session at 11:00 AM is open: text HERE when you arrive, by 11:30 AM."


def test_a_sitter_who_arrived_is_asked_to_stay(session, c, opened):
    world.here(session, c)
    assert sitter(session, c).startswith("Your arrival is recorded")


def test_a_sitter_with_an_observation_check_open_is_asked_it_again(session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=30), clock)
    assert sitter(session, c).startswith("Check-in: do they respond to their name")


def test_a_sitter_before_release_is_asked_to_stay_until_then(session, c, dosed, clock):
    clock.advance(timedelta(minutes=120) - timedelta(seconds=1))
    assert sitter(session, c).startswith("Please stay with them until 12:30 PM.")


def test_a_sitter_at_release_time_is_asked_for_ok_with_the_blood_pressure(session, c, dosed, clock):
    clock.advance(timedelta(minutes=120))
    assert "take their blood pressure and text OK with it, like OK 128/82, to end the session" in sitter(session, c)


# --- what status tells the router --------------------------------------------------------------------

def test_a_questionnaire_is_under_way_only_between_ready_and_its_last_answer(session, c, opened):
    assert not status.questionnaire_under_way(session, c.patient.id)
    checkins.start(session, c.me, c.settings, c.patient.id)
    session.commit()
    assert status.questionnaire_under_way(session, c.patient.id)
    world.pre_dose(session, c)
    session.expire_all()
    assert not status.questionnaire_under_way(session, c.patient.id)


def test_a_booked_session_is_not_under_way_for_alerts(session, c, booked):
    assert status.active_session(session, c.patient.id) is None


def test_an_open_session_is_under_way_for_alerts(session, c, opened):
    assert status.active_session(session, c.patient.id).id == opened.id
