"""The pure rules of a dose session (SPEC §4): the state machine, reading answers, the gates and
findings at their edges, the scheduling limits at their edges, and local time across DST."""
from datetime import date, datetime, time, timedelta, timezone

import pytest

from config.clinical import CLINICAL_DEFAULTS
from telehealth.dosing import rules
from telehealth.dosing.rules import (BLOOD_PRESSURE, BLOOD_PRESSURE_RECHECK, DISSOCIATION, MOOD, NAUSEA, ON_HAND,
                                     PULSE, SELF_HARM, TRANSITIONS, Event, Questionnaire, SeriesTerms, SessionState,
                                     Thresholds, Timings)
from telehealth.errors import Conflict, RuleViolation
from telehealth.escalations.rules import Severity

S, E = SessionState, Event
T = Thresholds.from_config(CLINICAL_DEFAULTS)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


# --- the state machine ---------------------------------------------------------------------

EXPECTED = {
    (S.SCHEDULED, E.OPEN_WINDOW): S.OPEN,
    (S.SCHEDULED, E.MISS): S.MISSED,
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.CLEAR): S.CLEARED,
    (S.OPEN, E.HOLD): S.ON_HOLD,
    (S.OPEN, E.MISS): S.MISSED,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    (S.CLEARED, E.TAKE): S.DOSED,
    (S.CLEARED, E.EXPIRE_CLEARANCE): S.MISSED,
    (S.CLEARED, E.CANCEL): S.CANCELLED,
    (S.DOSED, E.REPORT_AFTER_DOSE): S.OBSERVING,
    (S.DOSED, E.RELEASE): S.COMPLETED,
    (S.OBSERVING, E.RELEASE): S.COMPLETED,
    (S.ON_HOLD, E.RELEASE_HOLD): S.OPEN,
    (S.ON_HOLD, E.CANCEL): S.CANCELLED,
    (S.DOSED, E.CLOSE_UNRELEASED): S.MISSED,
    (S.OBSERVING, E.CLOSE_UNRELEASED): S.MISSED,
}


def test_the_transition_table_is_exactly_the_spec_s_paths():
    assert TRANSITIONS == EXPECTED


@pytest.mark.parametrize(("state", "event"), sorted(EXPECTED, key=str), ids=lambda v: v.value)
def test_every_allowed_event_moves_to_its_state(state, event):
    assert rules.next_state(state, event) is EXPECTED[(state, event)]


FORBIDDEN = [(state, event) for state in S for event in E if (state, event) not in EXPECTED]


@pytest.mark.parametrize(("state", "event"), FORBIDDEN, ids=lambda v: v.value)
def test_every_other_event_is_a_conflict_naming_the_state(state, event):
    with pytest.raises(Conflict, match=state.label):
        rules.next_state(state, event)


def test_finished_sessions_accept_no_event_at_all():
    for state in rules.FINISHED:
        assert not [event for event in E if (state, event) in TRANSITIONS]


def test_a_session_can_be_cancelled_only_before_the_dose():
    cancellable = {state for state in S if (state, E.CANCEL) in TRANSITIONS}
    assert cancellable == set(rules.BEFORE_DOSE)


# --- reading answers -----------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [("128/82", [128, 82]), (" 128 / 82 ", [128, 82]),
                                             ("128 over 82", [128, 82]), ("60/30", [60, 30]),
                                             ("260/159", [260, 159])])
def test_a_blood_pressure_is_read_as_two_numbers(text, value):
    assert rules.read_answer(BLOOD_PRESSURE, text) == value


@pytest.mark.parametrize("text", ["128/", "300/20", "abc", "7/0", "", "59/40", "120/29", "120/161", "80/90",
                                  "128-82", "128/82/1"])
def test_an_unreadable_or_implausible_blood_pressure_says_what_to_send(text):
    with pytest.raises(RuleViolation) as raised:
        rules.read_answer(BLOOD_PRESSURE, text)
    assert raised.value.errors == {"blood_pressure": [rules.BP_PROBLEM]}
    assert "128/82" in rules.BP_PROBLEM


@pytest.mark.parametrize(("question", "inside", "outside"), [(PULSE, ("30", "220"), ("29", "221")),
                                                             (MOOD, ("0", "10"), ("11", "-1")),
                                                             (NAUSEA, ("0", "3"), ("4",)),
                                                             (DISSOCIATION, ("0", "10"), ("11",)),
                                                             (ON_HAND, ("0", "500"), ("501",))])
def test_whole_numbers_are_kept_within_their_range(question, inside, outside):
    for text in inside:
        assert rules.read_answer(question, text) == int(text)
    for text in outside + ("7.5", "seven", ""):
        with pytest.raises(RuleViolation) as raised:
            rules.read_answer(question, text)
        assert list(raised.value.errors) == [question.key]


def test_yes_and_no_are_read_in_any_case_and_from_json_booleans():
    assert [rules.read_answer(SELF_HARM, t) for t in ("Y", "yes", "YES ", "n", "No", True, False)] == \
        [True, True, True, False, False, True, False]
    for text in ("maybe", "1", 1, None):
        with pytest.raises(RuleViolation):
            rules.read_answer(SELF_HARM, text)


def test_a_json_number_is_read_like_the_text_of_it():
    assert rules.read_answer(PULSE, 72) == 72


# --- the recheck -----------------------------------------------------------------------------

@pytest.mark.parametrize("first", [[160, 99], [159, 100], [200, 120]])
def test_a_first_reading_at_a_hold_threshold_adds_the_recheck_last(first):
    left = rules.questions_left(Questionnaire.PRE_DOSE, {"blood_pressure": first}, T)
    assert left[-1] is BLOOD_PRESSURE_RECHECK
    assert [q.key for q in left[:-1]] == ["pulse", "substances", "self_harm", "mood", "on_hand"]


def test_a_first_reading_of_159_over_99_needs_no_recheck():
    assert BLOOD_PRESSURE_RECHECK not in rules.questions_left(Questionnaire.PRE_DOSE, {"blood_pressure": [159, 99]}, T)


def test_the_post_dose_report_never_asks_for_a_recheck():
    left = rules.questions_left(Questionnaire.POST_DOSE, {"blood_pressure": [170, 105]}, T)
    assert BLOOD_PRESSURE_RECHECK not in left


# --- the pre-dose gates ----------------------------------------------------------------------

PASSING = {"blood_pressure": [128, 82], "pulse": 72, "substances": False, "self_harm": False, "mood": 6,
           "on_hand": 8}


def gates(**changes):
    return [(f.code, f.severity, f.hold) for f in rules.pre_dose_findings({**PASSING, **changes}, T)]


def test_a_passing_report_finds_nothing():
    assert gates() == []


def test_a_recheck_of_159_over_99_clears_whatever_the_first_reading():
    assert gates(blood_pressure=[175, 105], blood_pressure_recheck=[159, 99]) == []


@pytest.mark.parametrize("recheck", [[160, 99], [159, 100], [179, 109]])
def test_a_recheck_at_160_or_100_holds_with_a_moderate_escalation(recheck):
    assert gates(blood_pressure=[165, 101], blood_pressure_recheck=recheck) == [("bp_high", Severity.MODERATE, True)]


@pytest.mark.parametrize("recheck", [[180, 90], [150, 110]])
def test_a_recheck_at_180_or_110_holds_with_an_urgent_escalation(recheck):
    assert gates(blood_pressure=[185, 112], blood_pressure_recheck=recheck) == [("bp_urgent", Severity.URGENT, True)]


def test_the_recheck_decides_even_when_lower_than_the_first():
    assert gates(blood_pressure=[190, 115], blood_pressure_recheck=[120, 80]) == []


@pytest.mark.parametrize(("pulse", "held"), [(120, False), (121, True), (45, False), (44, True)])
def test_a_pulse_above_120_or_below_45_holds(pulse, held):
    assert gates(pulse=pulse) == ([("pulse", Severity.MODERATE, True)] if held else [])


def test_substances_in_the_last_day_hold_with_a_moderate_escalation():
    assert gates(substances=True) == [("substances", Severity.MODERATE, True)]


def test_thoughts_of_self_harm_hold_urgently_and_send_the_crisis_message():
    (finding,) = rules.pre_dose_findings({**PASSING, "self_harm": True}, T)
    assert (finding.severity, finding.hold, finding.crisis) == (Severity.URGENT, True, True)


def test_on_hand_differing_is_no_gate_here():
    assert gates(on_hand=3) == []  # the ledger compares it (a low compliance escalation), it never holds


def test_several_findings_are_all_kept_and_the_most_severe_decides():
    found = rules.pre_dose_findings({**PASSING, "pulse": 130, "self_harm": True}, T)
    assert [f.code for f in found] == ["pulse", "self_harm"]
    assert rules.most_severe(found) is Severity.URGENT


def test_thresholds_come_from_config():
    lenient = Thresholds.from_config({**CLINICAL_DEFAULTS, "PULSE_HOLD_ABOVE_BPM": 130})
    assert rules.pre_dose_findings({**PASSING, "pulse": 125}, lenient) == []


# --- post-dose findings ----------------------------------------------------------------------

GOOD_AFTER = {"chest_pain": False, "self_harm": False, "nausea": 0, "dissociation": 3, "blood_pressure": [126, 80]}


def after(**changes):
    return [(f.code, f.severity) for f in rules.post_dose_findings({**GOOD_AFTER, **changes}, T)]


def test_a_good_post_dose_report_finds_nothing():
    assert after() == []


def test_chest_pain_is_urgent():
    assert after(chest_pain=True) == [("chest_pain", Severity.URGENT)]


def test_self_harm_after_the_dose_is_urgent_with_the_crisis_message():
    (finding,) = rules.post_dose_findings({**GOOD_AFTER, "self_harm": True}, T)
    assert (finding.severity, finding.crisis) == (Severity.URGENT, True)


@pytest.mark.parametrize(("reading", "found"), [([180, 90], [("bp_urgent", Severity.URGENT)]),
                                                ([150, 110], [("bp_urgent", Severity.URGENT)]),
                                                ([179, 109], [])])
def test_a_blood_pressure_of_180_or_110_after_the_dose_is_urgent(reading, found):
    assert after(blood_pressure=reading) == found


def test_vomiting_is_moderate():
    assert after(nausea=3) == [("vomiting", Severity.MODERATE)]


@pytest.mark.parametrize("nausea", [1, 2])
def test_mild_nausea_is_logged_without_an_escalation(nausea):
    assert after(nausea=nausea) == [("nausea", None)]
    assert rules.most_severe(rules.post_dose_findings({**GOOD_AFTER, "nausea": nausea}, T)) is None


@pytest.mark.parametrize(("dissociation", "found"), [(8, [("dissociation", Severity.MODERATE)]), (7, [])])
def test_dissociation_of_8_is_moderate_and_7_is_nothing(dissociation, found):
    assert after(dissociation=dissociation) == found


# --- scheduling limits -----------------------------------------------------------------------

TERMS = SeriesTerms(active=True, expires_on=date(2027, 5, 21), doses_in_series=8, min_hours_between_doses=72,
                    max_doses_per_7_days=2, lozenges_per_dose=1)


def problems(at=NOW + timedelta(days=1), *, terms=TERMS, booked=(), used_in_series=0, on_hand=8, pending_doses=0,
             has_verified_sitter=True):
    return rules.scheduling_problems(at=at, now=NOW, local_day=at.date(), terms=terms, booked=list(booked),
                                     used_in_series=used_in_series, on_hand=on_hand, pending_doses=pending_doses,
                                     has_verified_sitter=has_verified_sitter)


def test_a_booking_within_every_limit_has_no_problem():
    assert problems() == {}


def test_sessions_exactly_72_hours_apart_are_allowed_either_side():
    other = NOW + timedelta(days=5)
    assert rules.spacing_problem(other + timedelta(hours=72), [other], 72) is None
    assert rules.spacing_problem(other - timedelta(hours=72), [other], 72) is None


def test_sessions_one_second_short_of_72_hours_are_refused_either_side():
    other = NOW + timedelta(days=5)
    gap = timedelta(hours=72) - timedelta(seconds=1)
    assert rules.spacing_problem(other + gap, [other], 72) == "Sessions must be at least 72 hours apart."
    assert rules.spacing_problem(other - gap, [other], 72) is not None


DAY = timedelta(days=1)


def test_a_third_session_within_any_7_days_is_refused():
    start = NOW + DAY
    assert rules.weekly_problem(start + 7 * DAY - timedelta(seconds=1), [start, start + 3 * DAY], 2) == \
        "At most 2 sessions in any 7 days."


def test_a_third_session_7_days_after_the_first_is_allowed():
    start = NOW + DAY
    assert rules.weekly_problem(start + 7 * DAY, [start, start + 3 * DAY], 2) is None


def test_the_weekly_maximum_counts_spans_after_the_new_session_too():
    start = NOW + DAY
    # Booked in between two sessions six days apart: every span holding all three is too full.
    assert rules.weekly_problem(start + 3 * DAY, [start, start + 6 * DAY], 2) is not None
    # Eight days apart, no 7-day span holds all three.
    assert rules.weekly_problem(start + 4 * DAY, [start, start + 8 * DAY], 2) is None
    # Before two booked ones a week later minus a second: the span from the new one holds three.
    assert rules.weekly_problem(start, [start + 3 * DAY, start + 7 * DAY - timedelta(seconds=1)], 2) is not None


def test_the_series_length_is_a_limit():
    assert problems(used_in_series=7) == {}
    assert problems(used_in_series=8) == {"prescription": ["All 8 sessions of the series are booked or done."]}


def test_on_hand_must_cover_this_session_and_those_already_booked():
    assert problems(on_hand=2, pending_doses=1) == {}
    assert problems(on_hand=1, pending_doses=1) == {
        "on_hand": ["Not enough on hand for this session and those already booked."]}
    assert "on_hand" in problems(on_hand=0)
    assert "on_hand" in problems(on_hand=3, pending_doses=1, terms=TERMS.__class__(
        **{**TERMS.__dict__, "lozenges_per_dose": 2}))


def test_an_active_verified_sitter_is_needed():
    assert problems(has_verified_sitter=False) == {"sitter": ["An active sitter with a confirmed phone is needed."]}


def test_an_inactive_prescription_is_refused():
    assert problems(terms=SeriesTerms(**{**TERMS.__dict__, "active": False})) == {
        "prescription": ["The prescription is not active."]}


def test_a_session_on_the_day_the_prescription_expires_is_refused_and_the_day_before_allowed():
    expires = (NOW + 10 * DAY).date()
    terms = SeriesTerms(**{**TERMS.__dict__, "expires_on": expires})
    assert "prescription" in problems(NOW + 10 * DAY, terms=terms)
    assert problems(NOW + 9 * DAY, terms=terms) == {}


def test_a_session_in_the_past_or_now_is_refused_and_a_second_later_allowed():
    assert problems(NOW) == {"scheduled_at": ["Choose a time in the future."]}
    assert "scheduled_at" in problems(NOW - DAY)
    assert problems(NOW + timedelta(seconds=1)) == {}


def test_every_problem_is_reported_at_once():
    assert set(problems(NOW, on_hand=0, has_verified_sitter=False, used_in_series=8)) == \
        {"scheduled_at", "prescription", "on_hand", "sitter"}


# --- local time ------------------------------------------------------------------------------

CHICAGO = "America/Chicago"


def test_a_local_time_that_does_not_exist_is_refused():
    with pytest.raises(RuleViolation) as raised:
        rules.local_to_utc(date(2027, 3, 14), time(2, 30), CHICAGO)  # clocks jump from 2:00 to 3:00
    assert "does not exist" in raised.value.errors["scheduled_at"][0]


def test_a_wall_clock_time_with_an_offset_is_refused_not_read_without_it():
    with pytest.raises(ValueError):
        rules.local_to_utc(date(2026, 11, 24), time(9, 0, tzinfo=timezone.utc), CHICAGO)


def test_a_local_day_whose_utc_is_off_the_calendar_is_refused_on_the_date():
    with pytest.raises(RuleViolation) as raised:
        rules.local_to_utc(date(9999, 12, 31), time(23, 0), CHICAGO)   # 10000-01-01 05:00 UTC
    assert raised.value.errors == {"local_date": ["Choose a date within the prescription."]}


def test_an_ambiguous_local_time_means_the_first():
    # 1:30 happens twice on 7 Nov 2027: first in CDT (UTC-5), then in CST (UTC-6).
    assert rules.local_to_utc(date(2027, 11, 7), time(1, 30), CHICAGO) == datetime(2027, 11, 7, 6, 30,
                                                                                    tzinfo=timezone.utc)


@pytest.mark.parametrize(("day", "utc_hour"), [(date(2027, 3, 13), 15), (date(2027, 3, 14), 14),
                                               (date(2027, 11, 6), 14), (date(2027, 11, 7), 15)])
def test_nine_in_the_morning_on_either_side_of_a_change_is_stored_as_the_right_utc(day, utc_hour):
    moment = rules.local_to_utc(day, time(9, 0), CHICAGO)
    assert moment == datetime.combine(day, time(utc_hour), tzinfo=timezone.utc)
    assert rules.to_local(moment, CHICAGO).hour == 9


def test_a_time_is_shown_in_the_patient_s_zone():
    moment = datetime(2027, 3, 14, 14, 0, tzinfo=timezone.utc)
    assert rules.local_label(moment, CHICAGO) == "Sun 14 Mar 9:00 AM CDT"
    assert rules.clock_label(moment, "America/New_York") == "10:00 AM"


# --- timings ---------------------------------------------------------------------------------

def test_timings_are_read_in_minutes_from_config_and_can_shrink_to_seconds():
    default = Timings.from_config(CLINICAL_DEFAULTS)
    assert (default.window_opens_before, default.dose_taken_within, default.release_after) == \
        (timedelta(minutes=30), timedelta(minutes=30), timedelta(minutes=120))
    quick = Timings.from_config({**CLINICAL_DEFAULTS, "RELEASE_MINUTES_AFTER_DOSE": 0.05})
    assert quick.release_after == timedelta(seconds=3)
