"""Dose sessions by text, through the signed webhook (SPEC §4, §6): the sitter's HERE and OK, the
patient's READY, one question per message with the 5-minute blood-pressure recheck, TAKEN, SKIP,
STATUS, bad input answered with what to send (and nothing stored), and both channels mixed.

Every reply is also checked as the template tests check templates: no drug, dose or diagnosis
words, at most two segments (the Conflict wording of the check-in verbs reaches phones too).
"""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth import clock as clock_module
from telehealth.accounts.models import Sitter
from telehealth.dispensing import inventory
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dosing import checkins, rules
from telehealth.dosing.models import Channel, CheckIn, DeadlineState, DoseSession
from telehealth.dosing.rules import SessionState
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason, Severity
from telehealth.inbound import dosing as inbound_dosing
from telehealth.messaging import consent, templates
from telehealth.messaging.models import Message
from telehealth.messaging.templates import segments
from tests.flows.sms import reply_of, text_in
from tests.integration import dosing_world as world
from tests.unit.test_sms_templates import FORBIDDEN

GOOD_PRE_DOSE_TEXTS = ["128/82", "72", "N", "N", "6", "8"]
GOOD_POST_DOSE_TEXTS = ["N", "N", "0", "3", "126/80"]


# --- arranging ---------------------------------------------------------------------------------

@pytest.fixture
def c(app, session, make):
    """A patient in America/Chicago with an active prescription, a confirmed sitter and 8 on hand."""
    return world.course(app, session, make)


@pytest.fixture
def booked(session, c, clock):
    """A session at 17:00 UTC (11:00 AM in Chicago); it is 15:00 UTC now."""
    return world.book(session, c, clock.now() + timedelta(hours=2))


@pytest.fixture
def opened(session, c, booked, clock):
    """The window is open: it is 10:30 AM in Chicago."""
    world.open_window(session, c, booked, clock)
    return booked


@pytest.fixture
def cleared(session, c, opened):
    world.here(session, c)
    world.pre_dose(session, c)
    assert world.reloaded(session, opened).state is SessionState.CLEARED
    return opened


@pytest.fixture
def dosed(session, c, cleared):
    checkins.taken(session, c.me, c.settings, c.patient.id, channel=Channel.WEB)
    session.commit()
    return cleared


def say(client, app, phone: str, body: str, **extra) -> str:
    """Text in as `phone`; the reply, checked to be fit for a phone."""
    reply = reply_of(text_in(client, app, phone, body, **extra))
    assert FORBIDDEN.search(reply) is None, reply
    assert segments(reply) <= 2, reply
    return reply


def clinic(c) -> str:
    return c.settings.clinic


def check_ins(session, booked, kind: str | None = None) -> list[CheckIn]:
    session.expire_all()
    query = sa.select(CheckIn).where(CheckIn.dose_session_id == booked.id)
    if kind is not None:
        query = query.where(CheckIn.kind == kind)
    return list(session.scalars(query.order_by(CheckIn.id)))


def count(session, model, *where) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def escalations_of(session, booked) -> list[Escalation]:
    session.expire_all()
    return list(session.scalars(sa.select(Escalation).where(Escalation.session_id == booked.id)
                                .order_by(Escalation.id)))


def problem(c, text: str) -> str:
    return templates.check_in_problem(clinic(c), text).body


def question(c, key: str) -> str:
    return templates.question(clinic(c), key).body


def patient_says(client, app, c, *bodies: str) -> list[str]:
    return [say(client, app, c.patient.phone, body) for body in bodies]


def to_bp_question(client, app, c) -> None:
    assert say(client, app, c.patient.phone, "READY") == question(c, "blood_pressure")


# --- the sitter's HERE -------------------------------------------------------------------------

def test_sitter_here_records_the_arrival(client, app, session, c, opened):
    assert say(client, app, c.sitter.phone, "HERE") == templates.sitter_arrived(clinic(c)).body
    assert world.reloaded(session, opened).sitter_arrived_at == clock_module.now()
    [arrival] = check_ins(session, opened, "sitter_arrived")
    assert (arrival.by, arrival.channel, arrival.sitter_id) == ("sitter", Channel.SMS, c.sitter.id)
    assert arrival.message_id == session.scalar(sa.select(Message.id).where(Message.body == "HERE"))


def test_a_second_here_changes_nothing_and_says_so(client, app, session, c, opened, clock):
    say(client, app, c.sitter.phone, "HERE")
    first = world.reloaded(session, opened).sitter_arrived_at
    clock.advance(timedelta(minutes=3))
    assert say(client, app, c.sitter.phone, "here!") == problem(c, "Your arrival is already recorded. Thank you.")
    assert world.reloaded(session, opened).sitter_arrived_at == first
    assert len(check_ins(session, opened)) == 1


def test_here_before_the_window_opens_says_when_it_opens(client, app, session, c, booked):
    reply = say(client, app, c.sitter.phone, "HERE")
    assert reply == problem(c, "The session opens at 10:30 AM. Text HERE when you arrive then.")
    assert world.reloaded(session, booked).sitter_arrived_at is None
    assert check_ins(session, booked) == []


def test_a_sitter_not_named_for_the_session_is_told_and_nothing_is_stored(client, app, session, make, c, opened):
    other = Sitter(patient_id=c.patient.id, full_name="Sam Other", phone=make.phone(), relationship_to_patient="friend",
                   phone_verified_at=clock_module.now(), consent_at=clock_module.now(), active=True,
                   created_at=clock_module.now())
    session.add(other)
    session.commit()
    reply = say(client, app, other.phone, "HERE")
    assert reply == problem(c, "You are not the sitter named for this session. Please call the clinic.")
    assert world.reloaded(session, opened).sitter_arrived_at is None
    assert check_ins(session, opened) == []


def test_a_sitter_of_another_patient_is_told_no_session_is_open_for_them(client, app, session, make, c, opened):
    someone_else = world.course(app, session, make)
    reply = say(client, app, someone_else.sitter.phone, "HERE")
    assert reply == problem(c, "No session is open for you now. We will text you before the next one.")
    assert world.reloaded(session, opened).sitter_arrived_at is None
    assert check_ins(session, opened) == []


def test_here_from_the_patient_says_it_is_for_their_sitter(client, app, session, c, opened):
    assert say(client, app, c.patient.phone, "HERE") == problem(c, inbound_dosing.FOR_THE_SITTER[
        inbound_dosing.Kind.HERE])
    assert world.reloaded(session, opened).sitter_arrived_at is None


def test_here_from_a_prescriber_gets_their_help(client, app, session, c, opened):
    assert say(client, app, c.prescriber.phone, "HERE") == templates.help_text(clinic(c), "prescriber").body
    assert check_ins(session, opened) == []


def test_a_sitter_arriving_after_the_check_in_clears_the_patient_by_text(client, app, session, c, opened):
    world.pre_dose(session, c)
    say(client, app, c.sitter.phone, "HERE")
    assert world.reloaded(session, opened).state is SessionState.CLEARED
    assert world.texts_to(session, c.patient.phone)[-1] == "cleared"


# --- the patient's READY and the questionnaire -------------------------------------------------

def test_ready_asks_the_first_question(client, app, session, c, opened):
    to_bp_question(client, app, c)
    assert world.reloaded(session, opened).pre_dose_started_at == clock_module.now()


def test_the_questions_come_one_per_message_in_order(client, app, session, c, opened):
    to_bp_question(client, app, c)
    replies = patient_says(client, app, c, *GOOD_PRE_DOSE_TEXTS)
    assert replies == [question(c, key) for key in ("pulse", "substances", "self_harm", "mood", "on_hand")] + [
        templates.waiting_for_sitter(clinic(c)).body]
    stored = {a.kind: a.payload["value"] for a in check_ins(session, opened)}
    assert stored == {"pre_dose.blood_pressure": [128, 82], "pre_dose.pulse": 72, "pre_dose.substances": False,
                      "pre_dose.self_harm": False, "pre_dose.mood": 6, "pre_dose.on_hand": 8}
    assert {a.channel for a in check_ins(session, opened)} == {Channel.SMS}


def test_the_last_answer_with_the_sitter_there_clears_the_patient_until_half_an_hour_on(
        client, app, session, c, opened):
    say(client, app, c.sitter.phone, "HERE")
    to_bp_question(client, app, c)
    *_, last = patient_says(client, app, c, *GOOD_PRE_DOSE_TEXTS)
    assert last == templates.cleared(clinic(c), "11:00 AM").body
    assert world.reloaded(session, opened).state is SessionState.CLEARED


def test_ready_again_mid_questionnaire_repeats_the_question_due(client, app, session, c, opened):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "128/82")
    assert say(client, app, c.patient.phone, "READY") == question(c, "pulse")
    assert len(check_ins(session, opened)) == 1


@pytest.mark.parametrize("body", ["128/", "300/20", "abc", "7/0", "-5", "82/128", "128 82"])
def test_an_unreadable_blood_pressure_is_asked_again_with_an_example_and_nothing_is_stored(
        client, app, session, c, opened, body):
    to_bp_question(client, app, c)
    assert say(client, app, c.patient.phone, body) == problem(c, rules.BP_PROBLEM)
    assert check_ins(session, opened) == []
    assert say(client, app, c.patient.phone, "128/82") == question(c, "pulse")


@pytest.mark.parametrize("body", ["-5", "abc", "221", "29", "7.5"])
def test_an_unreadable_pulse_is_asked_again_and_nothing_is_stored(client, app, session, c, opened, body):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "128/82")
    assert say(client, app, c.patient.phone, body) == problem(c, rules.PULSE.problem)
    assert [a.kind for a in check_ins(session, opened)] == ["pre_dose.blood_pressure"]


def test_a_yes_no_question_wants_y_or_n(client, app, session, c, opened):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "128/82", "72")
    assert say(client, app, c.patient.phone, "maybe") == problem(c, rules.YES_NO_PROBLEM)
    assert len(check_ins(session, opened)) == 2


def test_an_answer_before_ready_says_to_text_ready(client, app, session, c, opened):
    assert say(client, app, c.patient.phone, "128/82") == problem(c, "Text READY to start your check-in.")
    assert check_ins(session, opened) == []


def test_an_answer_with_no_open_session_says_what_to_text(client, app, session, c):
    assert say(client, app, c.patient.phone, "128/82") == problem(
        c, "You have no session open now. Text STATUS to see what is next.")
    assert count(session, CheckIn) == 0


def test_an_unknown_text_with_no_check_in_under_way_gets_help(client, app, session, c, opened):
    assert say(client, app, c.patient.phone, "abc") == templates.help_text(clinic(c), "patient").body


def test_a_sitter_sending_a_value_gets_their_help_and_nothing_is_stored(client, app, session, c, opened):
    to_bp_question(client, app, c)
    assert say(client, app, c.sitter.phone, "128/82") == templates.help_text(clinic(c), "sitter").body
    assert check_ins(session, opened) == []


# --- the blood-pressure recheck ------------------------------------------------------------------

def test_a_high_first_reading_asks_to_rest_and_carries_on_with_the_next_question(client, app, session, c, opened):
    to_bp_question(client, app, c)
    assert say(client, app, c.patient.phone, "160/100") == templates.rest_then_next(
        clinic(c), "10:35 AM", "pulse").body


def test_the_recheck_before_five_minutes_is_refused_and_nothing_is_stored(client, app, session, c, opened, clock):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "160/100")
    *_, last = patient_says(client, app, c, *GOOD_PRE_DOSE_TEXTS[1:])
    assert last == templates.keep_resting(clinic(c), "10:35 AM").body
    clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert say(client, app, c.patient.phone, "150/90") == templates.keep_resting(clinic(c), "10:35 AM").body
    assert "pre_dose.blood_pressure_recheck" not in {a.kind for a in check_ins(session, opened)}


def test_the_recheck_reminder_comes_at_five_minutes_and_the_recheck_is_then_accepted(
        client, app, session, c, opened, clock):
    say(client, app, c.sitter.phone, "HERE")
    to_bp_question(client, app, c)
    patient_says(client, app, c, "160/100", *GOOD_PRE_DOSE_TEXTS[1:])
    world.walk_to(session, c, clock.now() + timedelta(minutes=5), clock)
    assert world.texts_to(session, c.patient.phone)[-1] == "question"
    assert say(client, app, c.patient.phone, "159/99") == templates.cleared(clinic(c), "11:05 AM").body
    stored = {a.kind: a.payload.get("value") for a in check_ins(session, opened)}
    assert (stored["pre_dose.blood_pressure"], stored["pre_dose.blood_pressure_recheck"]) == ([160, 100], [159, 99])


def test_159_over_99_on_the_first_reading_clears_without_a_recheck(client, app, session, c, opened):
    say(client, app, c.sitter.phone, "HERE")
    to_bp_question(client, app, c)
    *_, last = patient_says(client, app, c, "159/99", *GOOD_PRE_DOSE_TEXTS[1:])
    assert last == templates.cleared(clinic(c), "11:00 AM").body


@pytest.mark.parametrize("recheck,severity", [("160/100", Severity.MODERATE), ("159/100", Severity.MODERATE),
                                              ("180/110", Severity.URGENT), ("150/110", Severity.URGENT)])
def test_a_high_recheck_holds_the_session_and_escalates(client, app, session, c, opened, clock, recheck, severity):
    say(client, app, c.sitter.phone, "HERE")
    to_bp_question(client, app, c)
    patient_says(client, app, c, "170/100", *GOOD_PRE_DOSE_TEXTS[1:])
    clock.advance(timedelta(minutes=5))
    assert say(client, app, c.patient.phone, recheck) == templates.held(clinic(c)).body
    assert world.reloaded(session, opened).state is SessionState.ON_HOLD
    [escalation] = escalations_of(session, opened)
    assert (escalation.reason, escalation.severity) == (Reason.PRE_DOSE_HOLD, severity)
    assert world.texts_to(session, c.sitter.phone)[-1] == "held_sitter"


def test_thoughts_of_self_harm_hold_with_the_crisis_lines_to_patient_and_sitter(client, app, session, c, opened):
    say(client, app, c.sitter.phone, "HERE")
    to_bp_question(client, app, c)
    *_, last = patient_says(client, app, c, "128/82", "72", "N", "Y")   # at once, not after the last question
    assert last == templates.crisis_reply(clinic(c)).body
    assert world.reloaded(session, opened).state is SessionState.ON_HOLD
    [escalation] = escalations_of(session, opened)
    assert escalation.severity is Severity.URGENT
    assert world.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"


def test_a_count_that_leaves_too_little_is_not_cleared_with_the_reason(client, app, session, make, clock):
    short = world.course(app, session, make, on_hand=2)   # enough for this one session only
    booked = world.book(session, short, clock.now() + timedelta(hours=2))
    world.open_window(session, short, booked, clock)
    say(client, app, short.sitter.phone, "HERE")
    # Both leave the ledger before the check-in ends: every gate passes, but nothing is on hand.
    inventory.record_dose_taken(session, short.me, short.patient.id, 2)
    session.commit()
    to_bp_question(client, app, short)
    *_, last = patient_says(client, app, short, *GOOD_PRE_DOSE_TEXTS[:-1], "0")
    assert last == templates.not_cleared(clinic(short), checkins.NOTHING_ON_HAND).body
    assert world.reloaded(session, booked).state is SessionState.CANCELLED


# --- TAKEN ---------------------------------------------------------------------------------------

def dose_movements(session, patient) -> int:
    return count(session, InventoryMovement, InventoryMovement.patient_id == patient.id,
                 InventoryMovement.kind == MovementKind.DOSE_TAKEN)


def test_taken_before_clearance_is_refused_and_writes_no_ledger_row(client, app, session, c, opened):
    reply = say(client, app, c.patient.phone, "TAKEN")
    assert reply == problem(c, "Please do not take it yet, you are not cleared: text READY for your check-in first.")
    assert dose_movements(session, c.patient) == 0
    assert world.reloaded(session, opened).dosed_at is None


def test_taken_with_no_session_is_refused(client, app, session, c):
    reply = say(client, app, c.patient.phone, "taken")
    assert reply == problem(c, "You have no session open now. Please do not take anything until you are cleared.")
    assert dose_movements(session, c.patient) == 0


def test_taken_after_clearance_writes_the_dose_taken_movement(client, app, session, c, cleared):
    assert say(client, app, c.patient.phone, "TAKEN") == templates.taken_recorded(clinic(c), "11:30 AM").body
    assert dose_movements(session, c.patient) == 1
    found = world.reloaded(session, cleared)
    assert (found.state, found.dosed_at) == (SessionState.DOSED, clock_module.now())
    [taken] = check_ins(session, cleared, "dose_taken")
    assert taken.channel is Channel.SMS


def test_a_second_taken_says_when_it_was_recorded_and_writes_nothing(client, app, session, c, cleared, clock):
    say(client, app, c.patient.phone, "TAKEN")
    clock.advance(timedelta(minutes=4))
    assert say(client, app, c.patient.phone, "TAKEN") == problem(c, "We already recorded it as taken at 10:30 AM.")
    assert dose_movements(session, c.patient) == 1


def test_taken_from_the_sitter_is_for_the_patient(client, app, session, c, cleared):
    assert say(client, app, c.sitter.phone, "TAKEN") == problem(c, inbound_dosing.FOR_THE_PATIENT)
    assert dose_movements(session, c.patient) == 0


# --- after the dose: the post-dose report, the sitter's OK ----------------------------------------

def test_the_post_dose_check_in_by_text_records_and_says_when_release_may_come(client, app, session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=60), clock)
    assert say(client, app, c.patient.phone, "READY") == question(c, "chest_pain")
    replies = patient_says(client, app, c, *GOOD_POST_DOSE_TEXTS)
    assert replies[:-1] == [question(c, key) for key in ("self_harm", "nausea", "dissociation", "blood_pressure")]
    assert replies[-1] == templates.post_dose_recorded(clinic(c), "12:30 PM").body
    assert world.reloaded(session, dosed).state is SessionState.OBSERVING


def test_the_post_dose_check_in_before_it_is_due_says_when(client, app, session, c, dosed, clock):
    clock.advance(timedelta(minutes=59))
    assert say(client, app, c.patient.phone, "READY") == problem(
        c, "Your after-session check-in opens at 11:30 AM. Rest with your sitter.")


def test_chest_pain_after_the_dose_tells_them_to_call_911(client, app, session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=60), clock)
    say(client, app, c.patient.phone, "READY")
    assert say(client, app, c.patient.phone, "Y") == templates.post_dose_urgent(clinic(c)).body   # at once
    assert Severity.URGENT in {e.severity for e in escalations_of(session, dosed)}
    *_, last = patient_says(client, app, c, "N", "0", "3", "126/80")
    assert "Thank you, your check-in is recorded." in last
    assert world.texts_to(session, c.sitter.phone).count("sos_reply") == 1   # told once, not again at the end


def test_self_harm_after_the_dose_gets_the_crisis_lines(client, app, session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=60), clock)
    say(client, app, c.patient.phone, "READY")
    *_, last = patient_says(client, app, c, "N", "Y")
    assert last == templates.crisis_reply(clinic(c)).body
    assert world.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"


def test_ok_from_the_patient_is_for_their_sitter(client, app, session, c, dosed, clock):
    clock.advance(timedelta(minutes=121))
    assert say(client, app, c.patient.phone, "OK") == problem(c, inbound_dosing.FOR_THE_SITTER[
        inbound_dosing.Kind.OK])
    assert world.reloaded(session, dosed).state is SessionState.DOSED
    assert check_ins(session, dosed, "release") == []


def test_sitter_ok_answers_an_observation_check(client, app, session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=30), clock)
    assert world.texts_to(session, c.sitter.phone)[-1] == "observation_check"
    assert say(client, app, c.sitter.phone, "OK") == templates.observation_ok(clinic(c)).body
    assert world.deadlines_of(session, dosed)["observation_answer@17:10"] == DeadlineState.MET.value
    world.walk_to(session, c, clock.now() + timedelta(minutes=10), clock)
    assert Reason.MISSED_OBSERVATION_CHECK not in {e.reason for e in escalations_of(session, dosed)}


def test_sitter_ok_before_the_release_time_says_stay_until(client, app, session, c, dosed, clock):
    clock.advance(timedelta(minutes=120) - timedelta(seconds=1))
    assert say(client, app, c.sitter.phone, "OK") == templates.stay_until(clinic(c), "12:30 PM").body
    found = world.reloaded(session, dosed)
    assert (found.state, found.released_at) == (SessionState.DOSED, None)


def test_sitter_ok_with_a_reading_before_the_release_time_keeps_it_and_says_stay_until(client, app, session, c,
                                                                                       dosed, clock):
    clock.advance(timedelta(minutes=120) - timedelta(seconds=1))
    assert say(client, app, c.sitter.phone, "OK 128/82") == templates.stay_until(clinic(c), "12:30 PM").body
    assert [done.payload for done in check_ins(session, dosed, "observation_ok")] == [
        {"blood_pressure": [128, 82]}]
    assert world.reloaded(session, dosed).released_at is None


def at_release(client, app, session, c, dosed, clock):
    world.walk_to(session, c, clock.now() + timedelta(minutes=60), clock)
    say(client, app, c.patient.phone, "READY")
    patient_says(client, app, c, *GOOD_POST_DOSE_TEXTS)
    world.walk_to(session, c, world.reloaded(session, dosed).dosed_at + timedelta(minutes=120), clock)


def test_sitter_ok_with_the_blood_pressure_at_the_release_time_completes_the_session(client, app, session, c, dosed,
                                                                                     clock):
    at_release(client, app, session, c, dosed, clock)
    assert say(client, app, c.sitter.phone, "OK 131/84") == templates.released(clinic(c)).body
    found = world.reloaded(session, dosed)
    assert (found.state, found.released_at) == (SessionState.COMPLETED, clock_module.now())
    assert [done.payload for done in check_ins(session, dosed, "release")] == [{"blood_pressure": [131, 84]}]
    assert world.texts_to(session, c.patient.phone)[-1] == "session_complete"


def test_sitter_ok_without_the_blood_pressure_at_the_release_time_asks_for_it_and_does_not_release(
        client, app, session, c, dosed, clock):
    at_release(client, app, session, c, dosed, clock)
    assert say(client, app, c.sitter.phone, "OK") == templates.release_needs_reading(clinic(c)).body
    found = world.reloaded(session, dosed)
    assert (found.state, found.released_at) == (SessionState.OBSERVING, None)
    assert check_ins(session, dosed, "release") == []


@pytest.mark.parametrize("reading", ["179/109", "120/109", "179/80"])
def test_a_reading_just_under_the_urgent_line_at_release_releases(client, app, session, c, dosed, clock, reading):
    at_release(client, app, session, c, dosed, clock)
    before = escalations_of(session, dosed)   # the checks no one answered on the way
    assert say(client, app, c.sitter.phone, f"OK {reading}") == templates.released(clinic(c)).body
    assert escalations_of(session, dosed) == before


@pytest.mark.parametrize("reading", ["180/100", "150/110"])
def test_an_urgent_reading_at_release_pages_urgently_and_does_not_release(client, app, session, c, dosed, clock,
                                                                         reading):
    at_release(client, app, session, c, dosed, clock)
    before = escalations_of(session, dosed)   # the checks no one answered on the way
    assert say(client, app, c.sitter.phone, f"OK {reading}") == templates.sos_reply(clinic(c)).body
    found = world.reloaded(session, dosed)
    assert (found.state, found.released_at) == (SessionState.OBSERVING, None)
    [alert] = [e for e in escalations_of(session, dosed) if e not in before]
    assert (alert.reason, alert.severity) == (Reason.ADVERSE_FINDING, Severity.URGENT)
    assert check_ins(session, dosed, "release") == []


@pytest.mark.parametrize("text", ["OK 300/20", "OK 128/", "OK 128", "OK 7/0"])
def test_an_unreadable_reading_with_ok_says_what_to_send_and_stores_nothing(client, app, session, c, dosed, clock,
                                                                           text):
    at_release(client, app, session, c, dosed, clock)
    before = check_ins(session, dosed)
    reply = say(client, app, c.sitter.phone, text)
    assert "like OK 128/82" in reply
    assert check_ins(session, dosed) == before
    assert world.reloaded(session, dosed).released_at is None


def test_sitter_ok_before_the_dose_says_to_text_here(client, app, session, c, opened):
    assert say(client, app, c.sitter.phone, "OK") == problem(
        c, "Text HERE when you arrive. OK is for after it has been taken.")
    assert check_ins(session, opened) == []


# --- SKIP ----------------------------------------------------------------------------------------

def test_skip_cancels_the_next_session_before_it_is_taken(client, app, session, c, booked):
    reply = say(client, app, c.patient.phone, "SKIP")
    assert reply == templates.session_cancelled(clinic(c), "11:00 AM").body
    assert world.reloaded(session, booked).state is SessionState.CANCELLED
    assert world.texts_to(session, c.sitter.phone)[-1] == "session_cancelled_sitter"


def test_skip_of_a_session_on_another_day_names_the_day(client, app, session, c, clock):
    later = world.book(session, c, clock.now() + timedelta(days=3))
    assert say(client, app, c.patient.phone, "SKIP") == templates.session_cancelled(
        clinic(c), "Mon 23 Nov 9:00 AM CST").body
    assert world.reloaded(session, later).state is SessionState.CANCELLED


def test_skip_after_it_is_taken_is_refused(client, app, session, c, dosed):
    reply = say(client, app, c.patient.phone, "SKIP")
    assert "cannot be skipped" in reply
    assert world.reloaded(session, dosed).state is SessionState.DOSED


def test_skip_with_nothing_booked_says_so(client, app, session, c):
    assert say(client, app, c.patient.phone, "SKIP") == problem(c, "You have no session to skip.")


# --- STATUS --------------------------------------------------------------------------------------

def test_status_with_nothing_booked(client, app, session, c):
    assert say(client, app, c.patient.phone, "STATUS") == templates.status(
        clinic(c), "You have no session booked. The clinic will text you when one is.").body


def test_status_before_the_window_names_the_session_and_when_check_in_opens(client, app, session, c, booked):
    assert say(client, app, c.patient.phone, "status") == templates.status(
        clinic(c), "Your next session is Fri 20 Nov 11:00 AM CST. Your check-in opens at 10:30 AM: text READY "
                   "then, with your sitter there.").body


def test_status_in_an_open_window_says_what_is_due(client, app, session, c, opened):
    reply = say(client, app, c.patient.phone, "STATUS")
    assert "text READY for your check-in, by 11:30 AM" in reply
    assert "Your sitter texts HERE" in reply


def test_status_when_cleared_says_to_text_taken(client, app, session, c, cleared):
    assert "Text TAKEN once you have taken it, by 11:00 AM" in say(client, app, c.patient.phone, "STATUS")


def test_status_from_the_sitter_during_observation_says_until_when(client, app, session, c, dosed):
    assert "Please stay with them until 12:30 PM" in say(client, app, c.sitter.phone, "STATUS")


def test_status_stores_nothing(client, app, session, c, opened):
    say(client, app, c.patient.phone, "STATUS")
    say(client, app, c.sitter.phone, "STATUS")
    assert check_ins(session, opened) == []
    assert world.reloaded(session, opened).pre_dose_started_at is None


# --- both channels, repeats, consent, safety ------------------------------------------------------

def test_a_check_in_started_by_text_and_finished_on_the_web_is_seen_done_by_text(client, app, session, c, opened):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "128/82")
    # The web form carries every answer; the one given by text keeps its first value.
    world.pre_dose(session, c, {**world.GOOD_PRE_DOSE, "blood_pressure": "150/95"})
    stored = {a.kind: (a.payload["value"], a.channel) for a in check_ins(session, opened)}
    assert stored["pre_dose.blood_pressure"] == ([128, 82], Channel.SMS)
    assert stored["pre_dose.pulse"] == (72, Channel.WEB)
    done = problem(c, "Your check-in is complete. You will be cleared when your sitter texts HERE.")
    assert say(client, app, c.patient.phone, "72") == done
    assert say(client, app, c.patient.phone, "READY") == done
    assert len(check_ins(session, opened)) == 6


def test_a_check_in_done_on_the_web_first_leaves_nothing_for_text(client, app, session, c, opened):
    world.here(session, c)
    world.pre_dose(session, c)
    assert say(client, app, c.patient.phone, "READY") == problem(c, "You are cleared. Text TAKEN once you have "
                                                                    "taken it.")
    assert len(check_ins(session, opened)) == 7


def test_a_repeated_message_sid_is_not_acted_on_twice(client, app, session, c, opened):
    to_bp_question(client, app, c)
    assert say(client, app, c.patient.phone, "128/82", sid="SMrepeat0001") == question(c, "pulse")
    assert say(client, app, c.patient.phone, "128/82", sid="SMrepeat0001") == ""
    assert len(check_ins(session, opened)) == 1


def test_yes_during_a_yes_no_question_still_means_opt_in(client, app, session, c, opened):
    to_bp_question(client, app, c)
    patient_says(client, app, c, "128/82", "72")
    # Consent, not the answer: the question (substances) is asked again with the opt-in.
    assert say(client, app, c.patient.phone, "YES") == templates.opted_in_then(clinic(c), "substances").body
    assert len(check_ins(session, opened)) == 2
    assert say(client, app, c.patient.phone, "N") == question(c, "self_harm")


def test_stop_during_a_questionnaire_still_opts_out(client, app, session, c, opened):
    to_bp_question(client, app, c)
    assert say(client, app, c.patient.phone, "STOP") == templates.opted_out(clinic(c)).body
    assert consent.is_opted_out(session, c.patient.phone)
    assert check_ins(session, opened) == []
    assert count(session, Escalation, Escalation.reason == Reason.OPTED_OUT_MID_COURSE) == 1


def test_an_answer_that_mentions_a_crisis_phrase_is_a_crisis_not_an_answer(client, app, session, c, opened):
    to_bp_question(client, app, c)
    phrase = app.config["CRISIS_PHRASES"][0].replace("*", "")
    assert say(client, app, c.patient.phone, phrase) == templates.crisis_reply(clinic(c)).body
    assert check_ins(session, opened) == []


def test_sos_during_a_session_is_tied_to_that_session(client, app, session, c, dosed):
    assert say(client, app, c.sitter.phone, "SOS") == templates.sos_reply(clinic(c)).body
    [sos] = [e for e in escalations_of(session, dosed) if e.reason is Reason.SOS]
    assert (sos.severity, sos.dose_number) == (Severity.URGENT, 1)


def test_sos_with_no_session_under_way_is_the_patients_alone(client, app, session, c, booked):
    say(client, app, c.patient.phone, "SOS")
    session.expire_all()
    sos = session.scalar(sa.select(Escalation).where(Escalation.reason == Reason.SOS))
    assert (sos.patient_id, sos.session_id, sos.dose_number) == (c.patient.id, None, None)


def test_every_check_in_outcome_has_words_for_a_phone(c, session, booked):
    from telehealth.dosing.operations import Outcome, Result
    found = session.get(DoseSession, booked.id)
    ctx = type("Ctx", (), {"clinic": clinic(c)})
    for outcome in Outcome:
        result = Result(outcome, found, question="pulse", at=found.scheduled_at, problem=checkins.TOO_SOON)
        assert inbound_dosing.reply_for(ctx, result).body.startswith(clinic(c))


# --- SOS and urgent readings during observation ---------------------------------------------------

def test_sos_in_answer_to_an_observation_check_is_not_also_paged_as_no_answer(client, app, session, c, dosed, clock):
    # SPEC §4: the sitter answers the check with OK, or SOS if not. An SOS is an answer.
    world.walk_to(session, c, world.reloaded(session, dosed).dosed_at + timedelta(minutes=30), clock)
    assert say(client, app, c.sitter.phone, "SOS") == templates.sos_reply(clinic(c)).body
    world.walk_to(session, c, clock.now() + timedelta(minutes=11), clock)
    assert [(e.reason, e.severity) for e in escalations_of(session, dosed)] == [(Reason.SOS, Severity.URGENT)]


def test_a_sitter_texting_sos_with_words_raises_the_urgent_alert(client, app, session, c, dosed, clock):
    world.walk_to(session, c, world.reloaded(session, dosed).dosed_at + timedelta(minutes=30), clock)
    assert say(client, app, c.sitter.phone, "SOS he is not waking up") == templates.sos_reply(clinic(c)).body
    assert [(e.reason, e.severity) for e in escalations_of(session, dosed)] == [(Reason.SOS, Severity.URGENT)]


def test_sos_with_words_in_the_middle_of_a_questionnaire_is_not_taken_as_an_answer(client, app, session, c, opened):
    say(client, app, c.patient.phone, "READY")
    assert say(client, app, c.patient.phone, "SOS help") == templates.sos_reply(clinic(c)).body
    assert [(e.reason, e.severity) for e in escalations_of(session, opened)] == [(Reason.SOS, Severity.URGENT)]
    assert check_ins(session, opened) == []


def test_an_urgent_pressure_sent_with_ok_before_the_release_time_is_escalated(client, app, session, c, dosed, clock):
    # SPEC §4 post-dose findings, "or any time": 180/110 is urgent, at a 30-minute check too.
    world.walk_to(session, c, world.reloaded(session, dosed).dosed_at + timedelta(minutes=30), clock)
    assert say(client, app, c.sitter.phone, "OK 190/115") == templates.sos_reply(clinic(c)).body
    assert [(e.reason, e.severity) for e in escalations_of(session, dosed)] == \
        [(Reason.ADVERSE_FINDING, Severity.URGENT)]
    assert world.reloaded(session, dosed).state is SessionState.DOSED


def test_taken_refused_for_too_little_on_hand_says_so_without_naming_a_dose(client, app, session, c, cleared):
    # Fewer on hand than at clearance (the rest reported wasted, witnessed): `say` checks the wording.
    inventory.record_waste(session, c.me, c.patient.id, lot_number="LOT-A1", quantity=8, witness_name="Wanda Witness")
    session.commit()
    assert "not enough on hand" in say(client, app, c.patient.phone, "TAKEN")
    assert world.reloaded(session, cleared).state is SessionState.CLEARED


def test_taken_by_text_after_the_clearance_expired_is_recorded_and_the_reply_says_rest_with_the_sitter(
        client, app, session, c, cleared, clock):
    world.walk_to(session, c, clock.now() + c.settings.timings.dose_taken_within + timedelta(minutes=5), clock)
    assert world.texts_to(session, c.patient.phone)[-1] == "clearance_expired"
    assert say(client, app, c.patient.phone, "TAKEN") == templates.taken_after_expiry(clinic(c)).body
    assert [(e.reason, e.severity) for e in escalations_of(session, cleared)] == \
        [(Reason.MISSED_DOSE_TAKEN, Severity.HIGH)]
    assert check_ins(session, cleared, "dose_taken")[0].payload == {"after_clearance_expired": True}
