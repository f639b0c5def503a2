"""Every deadline of SPEC §4 just before and just after its due time, swept as the scheduler does
(with the injected clock, never real waiting); what a missed deadline sends reaches the outbox in
the transaction that marks it missed; and a scheduler that was down catches up."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dosing import deadlines
from telehealth.dosing.jobs import sweep_deadlines
from telehealth.dosing.models import Deadline, DeadlineKind, DeadlineState
from telehealth.dosing.operations import Outcome, open_escalations
from telehealth.errors import Conflict
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message
from tests.integration import dosing_world as w

SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def reasons(session, booked) -> list[str]:
    return [reason for reason, _ in w.escalations_of(session, booked)]


def walk(session, c, clock, moment):
    w.walk_to(session, c, moment, clock)


# --- the window -------------------------------------------------------------------------------

def test_the_window_opens_30_minutes_before_and_not_a_second_sooner(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    walk(session, c, clock, booked.scheduled_at - 30 * MINUTE - SECOND)
    assert w.state_of(session, booked) == "scheduled"
    assert "window_open_patient" not in w.texts_to(session, c.patient.phone)
    walk(session, c, clock, booked.scheduled_at - 30 * MINUTE)
    assert w.state_of(session, booked) == "open"
    assert w.texts_to(session, c.patient.phone)[-1] == "window_open_patient"
    assert w.texts_to(session, c.sitter.phone) == ["window_open_sitter"]


# --- sitter arrival and the pre-dose report, by the scheduled time + 30 ------------------------

@pytest.fixture
def opened(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    return booked


def test_the_sitter_arriving_at_29_59_clears_the_session(c, session, clock, opened):
    w.pre_dose(session, c)
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE - SECOND)
    assert w.state_of(session, opened) == "open"
    w.here(session, c)
    assert w.state_of(session, opened) == "cleared"
    walk(session, c, clock, opened.scheduled_at + 31 * MINUTE)
    assert w.state_of(session, opened) == "cleared"
    assert reasons(session, opened) == []


def test_no_sitter_by_30_minutes_misses_the_session_with_a_moderate_escalation(c, session, clock, opened):
    w.pre_dose(session, c)
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE)
    found = w.reloaded(session, opened)
    assert (found.state.value, found.end_reason) == ("missed", "missed: no sitter arrival")
    assert w.escalations_of(session, opened) == [("missed_sitter_arrival", "moderate")]
    assert w.texts_to(session, c.patient.phone)[-1] == "session_missed"  # told not to take it
    assert w.texts_to(session, c.sitter.phone)[-1] == "session_missed_sitter"
    assert w.deadlines_of(session, opened)[f"sitter_arrival@{found.scheduled_at + 30 * MINUTE:%H:%M}"] == "missed"
    with pytest.raises(Conflict):
        w.here(session, c)


def test_the_pre_dose_report_at_29_59_is_in_time(c, session, clock, opened):
    w.here(session, c)
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE - SECOND)
    assert w.pre_dose(session, c).outcome is Outcome.CLEARED


def test_no_pre_dose_report_by_30_minutes_misses_the_session_with_a_moderate_escalation(c, session, clock, opened):
    w.here(session, c)
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE)
    assert w.state_of(session, opened) == "missed"
    assert w.escalations_of(session, opened) == [("missed_pre_dose_report", "moderate")]
    assert w.texts_to(session, c.patient.phone)[-1] == "session_missed"
    with pytest.raises(Conflict):
        w.pre_dose(session, c)


def test_neither_by_30_minutes_is_one_escalation_naming_both(c, session, clock, opened):
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE)
    assert w.escalations_of(session, opened) == [("missed_sitter_arrival", "moderate")]
    assert w.reloaded(session, opened).end_reason == "missed: no sitter arrival and no pre-dose report"
    states = w.deadlines_of(session, opened)
    assert [states[k] for k in states if k.startswith(("sitter_arrival", "pre_dose_report"))] == ["missed", "missed"]
    assert w.texts_to(session, c.patient.phone).count("session_missed") == 1


def test_a_half_done_pre_dose_report_is_still_missing(c, session, clock, opened):
    w.here(session, c)
    w.ready(session, c)
    w.text(session, c, "128/82")
    walk(session, c, clock, opened.scheduled_at + 30 * MINUTE)
    assert w.escalations_of(session, opened) == [("missed_pre_dose_report", "moderate")]


def test_a_held_session_is_not_missed_at_30_minutes(c, session, clock, opened):
    w.here(session, c)
    w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
    walk(session, c, clock, opened.scheduled_at + 2 * 60 * MINUTE)
    assert w.state_of(session, opened) == "on_hold"
    assert reasons(session, opened) == ["pre_dose_hold"]


# --- the 5-minute recheck ------------------------------------------------------------------------

def test_the_recheck_reminder_is_sent_at_5_00_and_not_at_4_59(c, session, clock, opened):
    w.ready(session, c)
    for answer in ("165/95", "72", "N", "N", "6", "8"):   # the others answered while resting
        w.text(session, c, answer)
    asked = len(w.texts_to(session, c.patient.phone))
    walk(session, c, clock, clock.now() + 5 * MINUTE - SECOND)
    assert len(w.texts_to(session, c.patient.phone)) == asked
    walk(session, c, clock, clock.now() + SECOND)
    assert w.texts_to(session, c.patient.phone)[asked:] == ["question"]


def test_the_recheck_reminder_is_not_sent_while_another_question_is_open(c, session, clock, opened):
    # One question per message (SPEC §6): at 5:00 the patient is still on the substances question;
    # a reminder asking for a blood pressure now would have their reading refused as a Y/N.
    w.ready(session, c)
    w.text(session, c, "165/95")
    w.text(session, c, "72")
    asked = len(w.texts_to(session, c.patient.phone))
    walk(session, c, clock, clock.now() + 5 * MINUTE)
    assert len(w.texts_to(session, c.patient.phone)) == asked
    for answer in ("N", "N", "6"):
        w.text(session, c, answer)
    result = w.text(session, c, "8")
    assert (result.outcome.value, result.question) == ("ask", "blood_pressure_recheck")


def test_no_recheck_reminder_once_the_recheck_is_in(c, session, clock, opened):
    w.ready(session, c)
    for answer in ("165/95", "72", "N", "N", "6", "8"):
        w.text(session, c, answer)
    clock.advance(minutes=5)
    w.text(session, c, "150/90")   # the recheck in, before the scheduler's sweep
    asked = len(w.texts_to(session, c.patient.phone))
    walk(session, c, clock, clock.now() + MINUTE)
    assert len(w.texts_to(session, c.patient.phone)) == asked


# --- TAKEN within 30 minutes of clearance, reminder at 20 -----------------------------------------

@pytest.fixture
def cleared(c, session, clock):
    return w.cleared_session(session, c, clock)


def test_the_taken_reminder_is_sent_at_20_minutes_and_not_at_19_59(c, session, clock, cleared):
    walk(session, c, clock, cleared.cleared_at + 20 * MINUTE - SECOND)
    assert "taken_soon" not in w.texts_to(session, c.patient.phone)
    walk(session, c, clock, cleared.cleared_at + 20 * MINUTE)
    assert w.texts_to(session, c.patient.phone)[-1] == "taken_soon"


def test_taken_at_29_59_is_in_time(c, session, clock, cleared):
    walk(session, c, clock, cleared.cleared_at + 30 * MINUTE - SECOND)
    assert w.take(session, c).outcome is Outcome.TAKEN
    walk(session, c, clock, cleared.cleared_at + 31 * MINUTE)
    assert reasons(session, cleared) == []


def test_no_taken_by_30_minutes_expires_the_clearance_with_a_low_escalation(c, session, clock, cleared):
    walk(session, c, clock, cleared.cleared_at + 30 * MINUTE)
    found = w.reloaded(session, cleared)
    assert (found.state.value, found.end_reason) == ("missed", "missed: clearance expired")
    assert w.escalations_of(session, cleared) == [("missed_dose_taken", "low")]
    assert w.texts_to(session, c.patient.phone)[-1] == "clearance_expired"


def test_taken_after_the_clearance_expired_is_recorded_and_pages_the_prescriber_high(c, session, clock, cleared):
    # Told not to take it, the patient says they have: the ledger and the record keep it, the
    # prescriber is paged (they may be dosed with nobody watching), and the sitter is asked to stay.
    walk(session, c, clock, cleared.cleared_at + 40 * MINUTE)
    assert w.take(session, c).outcome is Outcome.TAKEN_AFTER_EXPIRY
    found = w.reloaded(session, cleared)
    assert (found.state.value, found.dosed_at) == ("missed", clock.now())
    assert w.escalations_of(session, cleared) == [("missed_dose_taken", "high")]
    assert w.texts_to(session, c.sitter.phone)[-1] == "taken_after_expiry_sitter"
    assert session.scalar(sa.select(sa.func.count()).select_from(InventoryMovement).where(
        InventoryMovement.dose_session_id == cleared.id, InventoryMovement.kind == MovementKind.DOSE_TAKEN)) == 1
    with pytest.raises(Conflict, match="already recorded"):
        w.take(session, c)


def test_taken_is_not_recorded_against_a_clearance_that_expired_longer_ago_than_the_limit(c, session, clock, cleared):
    expired = cleared.cleared_at + c.settings.timings.dose_taken_within
    walk(session, c, clock, expired + c.settings.timings.late_taken_within + SECOND)
    with pytest.raises(Conflict, match="no session open"):
        w.take(session, c)
    session.rollback()
    assert w.reloaded(session, cleared).dosed_at is None


# --- a check-in that comes before a late sweep -----------------------------------------------------
# The scheduler is behind (or down): the check-in meets the deadline as the sweep would have left it.

def test_taken_after_the_clearance_ran_out_meets_an_expired_clearance_though_nothing_swept_it(
        c, session, clock, cleared):
    clock.set(cleared.cleared_at + 45 * MINUTE)
    assert w.take(session, c).outcome is Outcome.TAKEN_AFTER_EXPIRY   # not a dose in time
    w.sweep(session, c)
    assert w.state_of(session, cleared) == "missed"
    assert w.escalations_of(session, cleared) == [("missed_dose_taken", "high")]


def test_here_after_the_arrival_deadline_is_refused_though_nothing_swept_it(c, session, clock, opened):
    clock.set(opened.scheduled_at + 30 * MINUTE)
    with pytest.raises(Conflict, match="has ended"):
        w.here(session, c)
    session.rollback()
    w.sweep(session, c)
    assert w.escalations_of(session, opened) == [("missed_sitter_arrival", "moderate")]


def test_a_late_post_dose_report_before_the_sweep_is_kept_and_still_escalated(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 60)
    clock.set(dosed.dosed_at + 80 * MINUTE)   # nothing swept since 60 minutes
    w.post_dose(session, c)
    assert w.reloaded(session, dosed).post_dose_completed_at is not None
    assert ("missed_post_dose_report", "high") in w.escalations_of(session, dosed)


def test_a_window_due_but_not_yet_swept_opens_for_ready(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    clock.set(booked.scheduled_at - 20 * MINUTE)
    assert w.ready(session, c).question == "blood_pressure"
    assert w.state_of(session, booked) == "open"


# --- after the dose ----------------------------------------------------------------------------

@pytest.fixture
def dosed(c, session, clock):
    return w.dosed_session(session, c, clock)


def observe_to(session, c, clock, booked, minutes: float):
    """Walk to `minutes` after the dose, the sitter answering every observation check at once."""
    target = booked.dosed_at + timedelta(minutes=minutes)
    while True:
        check = session.scalar(sa.select(sa.func.min(Deadline.due_at)).where(
            Deadline.dose_session_id == booked.id, Deadline.kind == DeadlineKind.OBSERVATION_CHECK,
            Deadline.state == DeadlineState.PENDING))
        if check is None or check > target:
            break
        walk(session, c, clock, check)
        w.ok(session, c)
    walk(session, c, clock, target)


def test_the_post_dose_report_is_asked_at_60_minutes_and_not_at_59_59(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 60 - 1 / 60)
    assert "post_dose_due" not in w.texts_to(session, c.patient.phone)
    observe_to(session, c, clock, dosed, 60)
    assert w.texts_to(session, c.patient.phone)[-1] == "post_dose_due"


def test_the_post_dose_report_at_74_59_is_in_time(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 75 - 1 / 60)
    w.post_dose(session, c)
    observe_to(session, c, clock, dosed, 80)
    assert reasons(session, dosed) == []


def test_no_post_dose_report_by_75_minutes_is_a_high_escalation(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 75 - 1 / 60)
    assert reasons(session, dosed) == []
    observe_to(session, c, clock, dosed, 75)
    assert w.escalations_of(session, dosed) == [("missed_post_dose_report", "high")]
    assert w.state_of(session, dosed) == "dosed"  # observation goes on; the sitter still releases


def test_the_first_observation_check_is_at_30_minutes_and_not_at_29_59(c, session, clock, dosed):
    walk(session, c, clock, dosed.dosed_at + 30 * MINUTE - SECOND)
    assert "observation_check" not in w.texts_to(session, c.sitter.phone)
    walk(session, c, clock, dosed.dosed_at + 30 * MINUTE)
    assert w.texts_to(session, c.sitter.phone)[-1] == "observation_check"


def test_an_observation_check_answered_at_9_59_escalates_nothing(c, session, clock, dosed):
    walk(session, c, clock, dosed.dosed_at + 40 * MINUTE - SECOND)
    assert w.ok(session, c).outcome is Outcome.CHECK_OK
    walk(session, c, clock, dosed.dosed_at + 50 * MINUTE)
    assert reasons(session, dosed) == []


def test_an_observation_check_unanswered_for_10_minutes_is_a_high_escalation(c, session, clock, dosed):
    walk(session, c, clock, dosed.dosed_at + 40 * MINUTE - SECOND)
    assert reasons(session, dosed) == []
    walk(session, c, clock, dosed.dosed_at + 40 * MINUTE)
    assert w.escalations_of(session, dosed) == [("missed_observation_check", "high")]


def test_the_sitter_is_asked_every_30_minutes_during_observation_until_the_release_is_due(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 119)
    assert w.texts_to(session, c.sitter.phone).count("observation_check") == 3  # at 30, 60 and 90
    observe_to(session, c, clock, dosed, 135)
    assert w.texts_to(session, c.sitter.phone).count("observation_check") == 3  # at 120 the release prompt asks
    assert w.texts_to(session, c.sitter.phone)[-1] == "release_due"


def test_an_ok_with_no_check_open_before_120_minutes_asks_the_sitter_to_stay(c, session, clock, dosed):
    clock.advance(minutes=5)
    result = w.ok(session, c)
    assert (result.outcome, result.at) == (Outcome.STAY_UNTIL, dosed.dosed_at + 120 * MINUTE)


def test_ok_at_119_59_does_not_release(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 61)
    w.post_dose(session, c)
    observe_to(session, c, clock, dosed, 120 - 1 / 60)
    assert w.ok(session, c).outcome is not Outcome.RELEASED
    assert w.state_of(session, dosed) == "observing"
    assert "release_due" not in w.texts_to(session, c.sitter.phone)


def test_release_is_prompted_at_120_minutes_and_ok_then_completes_the_session(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 61)
    w.post_dose(session, c)
    observe_to(session, c, clock, dosed, 120)
    assert "release_due" in w.texts_to(session, c.sitter.phone)
    assert w.ok(session, c).outcome is Outcome.RELEASED
    found = w.reloaded(session, dosed)
    assert (found.state.value, found.released_at) == ("completed", clock.now())
    assert w.texts_to(session, c.patient.phone)[-1] == "session_complete"
    assert set(w.deadlines_of(session, dosed).values()) <= {"met", "cancelled"}
    walk(session, c, clock, dosed.dosed_at + 4 * 60 * MINUTE)
    assert reasons(session, dosed) == []


def test_no_release_by_135_minutes_is_a_high_escalation(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 61)
    w.post_dose(session, c)
    observe_to(session, c, clock, dosed, 135 - 1 / 60)
    assert reasons(session, dosed) == []
    observe_to(session, c, clock, dosed, 135)
    assert w.escalations_of(session, dosed) == [("missed_release", "high")]


def test_a_release_at_134_59_is_in_time(c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 61)
    w.post_dose(session, c)
    observe_to(session, c, clock, dosed, 135 - 1 / 60)
    assert w.ok(session, c).outcome is Outcome.RELEASED
    walk(session, c, clock, dosed.dosed_at + 3 * 60 * MINUTE)
    assert reasons(session, dosed) == []


# --- the outbox in the same transaction ---------------------------------------------------------

def test_a_missed_deadline_s_texts_and_pages_are_enqueued_in_the_transaction_that_marks_it_missed(
        c, session, clock, opened):
    clock.set(opened.scheduled_at + 30 * MINUTE)
    before = session.scalar(sa.select(sa.func.count()).select_from(Message))
    (first, *_rest) = deadlines.due_deadline_ids(session)
    assert deadlines.process(session, c.settings, first) is DeadlineState.MISSED
    session.flush()
    # Not committed yet: the missed mark, the patient's text and the prescriber's page stand together...
    kinds = dict(session.execute(sa.select(Message.owner_type, sa.func.count()).where(Message.id > 0)
                                 .group_by(Message.owner_type)).all())
    assert session.get(Deadline, first).state is DeadlineState.MISSED
    assert kinds.get("escalation", 0) >= 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) > before
    # ...and fall together.
    session.rollback()
    assert session.get(Deadline, first, populate_existing=True).state is DeadlineState.PENDING
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == before


def test_the_scheduler_knows_when_the_next_deadline_is_due(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    assert deadlines.next_due_at(session) == booked.scheduled_at - 30 * MINUTE
    w.open_window(session, c, booked, clock)
    assert deadlines.next_due_at(session) == booked.scheduled_at + 30 * MINUTE


def test_a_deadline_not_yet_due_is_left_alone(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    (window,) = [d for d in w.reloaded(session, booked).deadlines if d.kind is DeadlineKind.WINDOW_OPENS]
    assert deadlines.process(session, c.settings, window.id) is None
    assert w.state_of(session, booked) == "scheduled"


# --- a scheduler that was down catches up -------------------------------------------------------

def run_the_job(app) -> dict:
    with app.app_context():
        return sweep_deadlines(JobContext(app))


def test_a_scheduler_down_for_an_hour_escalates_every_missed_deadline_once_and_sends_no_stale_reminder(
        app, c, session, clock):
    first = w.book(session, c, w.in_hours(1))   # its window, arrival and report all fall in the outage
    clock.advance(minutes=1)
    # The scheduler stops now, for an hour and a half: nothing is swept.
    clock.set(first.scheduled_at + 60 * MINUTE)
    done = run_the_job(app)
    assert done == {"cancelled": 1, "missed": 1}   # the window's reminder too late; arrival missed...
    states = w.deadlines_of(session, first)
    assert sorted(states.values()) == ["cancelled", "missed", "missed"]  # ...and the report with it
    assert w.state_of(session, first) == "missed"
    assert w.escalations_of(session, first) == [("missed_sitter_arrival", "moderate")]
    assert "window_open_patient" not in w.texts_to(session, c.patient.phone)
    assert w.texts_to(session, c.patient.phone)[-1] == "session_missed"
    assert run_the_job(app) == {}   # a second start finds nothing left


def test_after_outages_during_observation_each_missed_deadline_is_escalated_once(app, c, session, clock, dosed):
    sitter_texts = len(w.texts_to(session, c.sitter.phone))
    clock.set(dosed.dosed_at + 100 * MINUTE)  # down from the dose on: the check at 30 and the report missed
    run_the_job(app)
    assert reasons(session, dosed) == ["missed_post_dose_report"]
    # The stale post-dose prompt is not sent; the overdue observation check is asked once, at once
    # (its safety purpose stands), with a fresh 10-minute answer window.
    assert "post_dose_due" not in w.texts_to(session, c.patient.phone)
    assert w.texts_to(session, c.sitter.phone)[sitter_texts:] == ["observation_check"]
    assert run_the_job(app) == {}
    clock.set(dosed.dosed_at + 150 * MINUTE)  # down again: that check unanswered, no release
    run_the_job(app)
    assert reasons(session, dosed) == ["missed_post_dose_report", "missed_observation_check", "missed_release"]
    assert "release_due" not in w.texts_to(session, c.sitter.phone)  # stale
    missed = session.scalar(sa.select(sa.func.count()).select_from(Deadline).where(
        Deadline.dose_session_id == dosed.id, Deadline.state == DeadlineState.MISSED))
    assert missed == 3
    assert run_the_job(app) == {}


def test_a_window_reminder_a_few_minutes_late_is_still_sent(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    clock.set(booked.scheduled_at - 10 * MINUTE)   # the scheduler was 20 minutes behind
    w.sweep(session, c)
    assert w.state_of(session, booked) == "open"
    assert w.texts_to(session, c.patient.phone)[-1] == "window_open_patient"


def test_a_stale_taken_reminder_is_not_sent_late(c, session, clock, cleared):
    clock.set(cleared.cleared_at + 31 * MINUTE)   # the reminder was due 11 minutes ago
    w.sweep(session, c)
    assert "taken_soon" not in w.texts_to(session, c.patient.phone)
    assert w.escalations_of(session, cleared) == [("missed_dose_taken", "low")]


# --- a session left undecided when the next one comes ------------------------------------------

def test_a_session_never_released_ends_when_the_next_window_opens_and_the_new_one_takes_the_check_in(
        c, session, clock, dosed):
    observe_to(session, c, clock, dosed, 60)
    w.post_dose(session, c)
    later = w.book(session, c, dosed.dosed_at + timedelta(hours=96))
    walk(session, c, clock, later.scheduled_at - 30 * MINUTE)   # the release was missed on the way
    assert ("missed_release", "high") in w.escalations_of(session, dosed)
    found = w.reloaded(session, dosed)
    assert (found.state.value, found.end_reason) == ("missed", "missed: not released by the sitter")
    result = w.ready(session, c)
    assert (result.question, result.dose_session.id) == ("blood_pressure", later.id)


def test_a_hold_not_released_before_the_next_window_is_cancelled_and_its_escalation_stays_open(c, session, clock,
                                                                                            opened):
    w.here(session, c)
    w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
    later = w.book(session, c, opened.scheduled_at + timedelta(hours=96))
    walk(session, c, clock, later.scheduled_at - 30 * MINUTE)
    found = w.reloaded(session, opened)
    assert (found.state.value, found.end_reason) == \
        ("cancelled", "cancelled: the hold was not released before the next session")
    assert [e.reason.value for e in open_escalations(session, opened.id)] == ["pre_dose_hold"]
    w.here(session, c)
    assert w.reloaded(session, later).sitter_arrived_at is not None


def test_an_earlier_session_still_within_its_observation_is_not_closed_by_a_window(app, make, session, clock):
    close = w.course(app, session, make, min_hours_between_doses=1)
    first = w.dosed_session(session, close, clock)
    later = w.book(session, close, first.dosed_at + timedelta(hours=2))
    w.walk_to(session, close, later.scheduled_at - 30 * MINUTE, clock)
    assert w.state_of(session, later) == "open"
    assert w.state_of(session, first) in ("dosed", "observing")


def test_a_session_missed_after_its_dose_reads_missed_taken_not_missed(c, session, clock, cleared):
    walk(session, c, clock, cleared.cleared_at + 40 * MINUTE)
    w.take(session, c)
    assert w.reloaded(session, cleared).status_label == "missed (taken)"
