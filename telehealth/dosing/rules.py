"""Pure rules of a dose session (SPEC §4): the state machine, the questionnaires and how an answer
is read, the safety gates, the post-dose findings, the scheduling limits, and local time.

Nothing here knows of Flask, the database or Twilio. Every number comes in through `Timings`
and `Thresholds`, built from config by the operations.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from telehealth.errors import Conflict, RuleViolation
from telehealth.escalations.rules import Severity


# --- the state machine ---------------------------------------------------------------------

class SessionState(enum.Enum):
    SCHEDULED = "scheduled"
    OPEN = "open"            # the window is open: sitter arrival and the pre-dose report are due
    CLEARED = "cleared"      # every gate passed, the sitter is there: the patient may take the dose
    DOSED = "dosed"          # taken; the post-dose report is due
    OBSERVING = "observing"  # post-dose report in; waiting for the sitter's release
    COMPLETED = "completed"
    ON_HOLD = "on_hold"      # a gate failed: a prescriber releases the hold or cancels
    MISSED = "missed"
    CANCELLED = "cancelled"

    @property
    def before_dose(self) -> bool:
        return self in BEFORE_DOSE

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


BEFORE_DOSE = frozenset({SessionState.SCHEDULED, SessionState.OPEN, SessionState.CLEARED, SessionState.ON_HOLD})
AFTER_DOSE = frozenset({SessionState.DOSED, SessionState.OBSERVING})
FINISHED = frozenset({SessionState.COMPLETED, SessionState.MISSED, SessionState.CANCELLED})


class Event(enum.Enum):
    OPEN_WINDOW = "open_window"
    CLEAR = "clear"
    HOLD = "hold"
    MISS = "miss"                      # sitter or pre-dose report missing at its deadline
    TAKE = "take"
    EXPIRE_CLEARANCE = "expire_clearance"
    REPORT_AFTER_DOSE = "report_after_dose"
    RELEASE = "release"
    RELEASE_HOLD = "release_hold"
    CANCEL = "cancel"
    # Dosed, never released by the sitter (that was escalated), and the patient's next window opens.
    CLOSE_UNRELEASED = "close_unreleased"


S, E = SessionState, Event
TRANSITIONS: dict[tuple[SessionState, Event], SessionState] = {
    (S.SCHEDULED, E.OPEN_WINDOW): S.OPEN,
    (S.OPEN, E.CLEAR): S.CLEARED,
    (S.OPEN, E.HOLD): S.ON_HOLD,
    (S.SCHEDULED, E.MISS): S.MISSED,
    (S.OPEN, E.MISS): S.MISSED,
    (S.CLEARED, E.TAKE): S.DOSED,
    (S.CLEARED, E.EXPIRE_CLEARANCE): S.MISSED,
    (S.DOSED, E.REPORT_AFTER_DOSE): S.OBSERVING,
    # The sitter's release ends observation even when the post-dose report never came (that
    # was escalated already; the record stays incomplete and holds the next shipment).
    (S.DOSED, E.RELEASE): S.COMPLETED,
    (S.OBSERVING, E.RELEASE): S.COMPLETED,
    (S.ON_HOLD, E.RELEASE_HOLD): S.OPEN,
    (S.SCHEDULED, E.CANCEL): S.CANCELLED,
    (S.OPEN, E.CANCEL): S.CANCELLED,
    (S.CLEARED, E.CANCEL): S.CANCELLED,
    (S.ON_HOLD, E.CANCEL): S.CANCELLED,
    (S.DOSED, E.CLOSE_UNRELEASED): S.MISSED,
    (S.OBSERVING, E.CLOSE_UNRELEASED): S.MISSED,
}
del S, E


def next_state(state: SessionState, event: Event) -> SessionState:
    """The state after `event`, or Conflict when the event cannot happen in this state."""
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise Conflict(f"A session that is {state.label} cannot {event.value.replace('_', ' ')}.") from None


# --- timings and thresholds ----------------------------------------------------------------

@dataclass(frozen=True)
class Timings:
    window_opens_before: timedelta
    sitter_arrival_after: timedelta
    pre_dose_report_after: timedelta
    bp_recheck_rest: timedelta
    dose_taken_reminder: timedelta
    dose_taken_within: timedelta
    post_dose_report_after: timedelta
    post_dose_grace: timedelta
    release_after: timedelta
    release_grace: timedelta
    observation_every: timedelta
    observation_answer: timedelta
    reminder_stale_after: timedelta
    late_taken_within: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Timings":
        def minutes(name: str) -> timedelta:
            return timedelta(minutes=float(config[name]))

        return cls(window_opens_before=minutes("SESSION_WINDOW_OPENS_MINUTES_BEFORE"),
                   sitter_arrival_after=minutes("SITTER_ARRIVAL_MINUTES_AFTER_SCHEDULED"),
                   pre_dose_report_after=minutes("PRE_DOSE_REPORT_MINUTES_AFTER_SCHEDULED"),
                   bp_recheck_rest=minutes("BP_RECHECK_REST_MINUTES"),
                   dose_taken_reminder=minutes("DOSE_TAKEN_REMINDER_MINUTES"),
                   dose_taken_within=minutes("DOSE_TAKEN_WITHIN_MINUTES"),
                   post_dose_report_after=minutes("POST_DOSE_REPORT_MINUTES_AFTER_DOSE"),
                   post_dose_grace=minutes("POST_DOSE_REPORT_GRACE_MINUTES"),
                   release_after=minutes("RELEASE_MINUTES_AFTER_DOSE"),
                   release_grace=minutes("RELEASE_GRACE_MINUTES"),
                   observation_every=minutes("OBSERVATION_CHECK_EVERY_MINUTES"),
                   observation_answer=minutes("OBSERVATION_CHECK_ANSWER_MINUTES"),
                   reminder_stale_after=minutes("REMINDER_STALE_AFTER_MINUTES"),
                   late_taken_within=minutes("LATE_TAKEN_RECORDED_WITHIN_MINUTES"))


@dataclass(frozen=True)
class Thresholds:
    bp_hold_systolic: int = 160
    bp_hold_diastolic: int = 100
    bp_urgent_systolic: int = 180
    bp_urgent_diastolic: int = 110
    pulse_hold_above: int = 120
    pulse_hold_below: int = 45
    dissociation_moderate_at: int = 8

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "Thresholds":
        return cls(bp_hold_systolic=int(config["BP_HOLD_SYSTOLIC_MMHG"]),
                   bp_hold_diastolic=int(config["BP_HOLD_DIASTOLIC_MMHG"]),
                   bp_urgent_systolic=int(config["BP_URGENT_SYSTOLIC_MMHG"]),
                   bp_urgent_diastolic=int(config["BP_URGENT_DIASTOLIC_MMHG"]),
                   pulse_hold_above=int(config["PULSE_HOLD_ABOVE_BPM"]),
                   pulse_hold_below=int(config["PULSE_HOLD_BELOW_BPM"]),
                   dissociation_moderate_at=int(config["DISSOCIATION_MODERATE_AT"]))


# --- questionnaires ------------------------------------------------------------------------

class Questionnaire(enum.Enum):
    PRE_DOSE = "pre_dose"    # questionnaire A
    POST_DOSE = "post_dose"  # questionnaire B


class AnswerKind(enum.Enum):
    BLOOD_PRESSURE = "blood_pressure"
    WHOLE_NUMBER = "whole_number"
    YES_NO = "yes_no"


@dataclass(frozen=True)
class Question:
    key: str
    kind: AnswerKind
    low: int = 0
    high: int = 0
    problem: str = ""   # what to send instead, with an example: the reply to a bad answer


BP_PROBLEM = "Send your blood pressure as two numbers like 128/82 (top 60-260, bottom 30-160)."
YES_NO_PROBLEM = "Send Y for yes or N for no."

BLOOD_PRESSURE = Question("blood_pressure", AnswerKind.BLOOD_PRESSURE, problem=BP_PROBLEM)
BLOOD_PRESSURE_RECHECK = Question("blood_pressure_recheck", AnswerKind.BLOOD_PRESSURE, problem=BP_PROBLEM)
PULSE = Question("pulse", AnswerKind.WHOLE_NUMBER, 30, 220, "Send your pulse as one number from 30 to 220, like 72.")
SUBSTANCES = Question("substances", AnswerKind.YES_NO, problem=YES_NO_PROBLEM)
SELF_HARM = Question("self_harm", AnswerKind.YES_NO, problem=YES_NO_PROBLEM)
MOOD = Question("mood", AnswerKind.WHOLE_NUMBER, 0, 10, "Send your mood as one number from 0 to 10, like 6.")
ON_HAND = Question("on_hand", AnswerKind.WHOLE_NUMBER, 0, 500,
                   "Send how many items you have on hand as one number, like 7.")
CHEST_PAIN = Question("chest_pain", AnswerKind.YES_NO, problem=YES_NO_PROBLEM)
NAUSEA = Question("nausea", AnswerKind.WHOLE_NUMBER, 0, 3,
                  "Send nausea as one number from 0 (none) to 3 (vomiting), like 1.")
DISSOCIATION = Question("dissociation", AnswerKind.WHOLE_NUMBER, 0, 10,
                        "Send one number from 0 (none) to 10 (severe), like 3.")

# The sitter's reading at release, sent with the OK that releases (SPEC §8: the dose record has a
# blood pressure before the dose, after it and at release).
RELEASE_BP_PROBLEM = ("Send OK and their blood pressure as two numbers, like OK 128/82 "
                      "(top 60-260, bottom 30-160).")
BLOOD_PRESSURE_AT_RELEASE = Question("blood_pressure_at_release", AnswerKind.BLOOD_PRESSURE,
                                     problem=RELEASE_BP_PROBLEM)
SITTER_READING = "blood_pressure"   # where a sitter's check-in keeps the reading sent with OK

QUESTIONS: dict[Questionnaire, tuple[Question, ...]] = {
    Questionnaire.PRE_DOSE: (BLOOD_PRESSURE, PULSE, SUBSTANCES, SELF_HARM, MOOD, ON_HAND),
    Questionnaire.POST_DOSE: (CHEST_PAIN, SELF_HARM, NAUSEA, DISSOCIATION, BLOOD_PRESSURE),
}
BY_KEY = {q.key: q for qs in QUESTIONS.values() for q in qs} | {BLOOD_PRESSURE_RECHECK.key: BLOOD_PRESSURE_RECHECK}
# The answers a questionnaire may carry: its questions, and for the pre-dose one the recheck.
ANSWER_KEYS: dict[Questionnaire, frozenset[str]] = {
    Questionnaire.PRE_DOSE: frozenset([*(q.key for q in QUESTIONS[Questionnaire.PRE_DOSE]), BLOOD_PRESSURE_RECHECK.key]),
    Questionnaire.POST_DOSE: frozenset(q.key for q in QUESTIONS[Questionnaire.POST_DOSE]),
}
NOT_A_QUESTION = "Not a question of this check-in."

_BP = re.compile(r"(\d{1,3}) ?(?:/|over) ?(\d{1,3})", re.IGNORECASE)
_WHOLE = re.compile(r"\d{1,4}")


def read_answer(question: Question, text: object) -> Any:
    """An answer as stored: (systolic, diastolic) as a list, an int, or a bool. Raises
    RuleViolation({question.key: [what to send]}) for anything unparseable or out of range."""
    if question.kind is AnswerKind.YES_NO and isinstance(text, bool):  # a JSON true/false
        return text
    if isinstance(text, str):
        raw = text.strip()
    elif isinstance(text, int) and not isinstance(text, bool):  # a JSON number
        raw = str(text)
    else:
        raw = ""
    problem = RuleViolation(question.problem, {question.key: [question.problem]})
    if question.kind is AnswerKind.YES_NO:
        folded = raw.casefold()
        if folded in ("y", "yes"):
            return True
        if folded in ("n", "no"):
            return False
        raise problem
    if question.kind is AnswerKind.BLOOD_PRESSURE:
        match = _BP.fullmatch(raw)
        if not match:
            raise problem
        systolic, diastolic = int(match.group(1)), int(match.group(2))
        if not (60 <= systolic <= 260 and 30 <= diastolic <= 160 and diastolic < systolic):
            raise problem
        return [systolic, diastolic]
    if not _WHOLE.fullmatch(raw):
        raise problem
    value = int(raw)
    if not question.low <= value <= question.high:
        raise problem
    return value


def bp_needs_recheck(reading: Iterable[int], t: Thresholds) -> bool:
    """At or above a hold threshold: not final, the patient rests and measures again."""
    systolic, diastolic = reading
    return systolic >= t.bp_hold_systolic or diastolic >= t.bp_hold_diastolic


def questions_left(questionnaire: Questionnaire, answered: Mapping[str, Any], t: Thresholds) -> list[Question]:
    """What is still to ask, in order. A first blood pressure at a hold threshold adds the recheck,
    asked last so the patient rests while answering the rest."""
    pending = [q for q in QUESTIONS[questionnaire] if q.key not in answered]
    if (questionnaire is Questionnaire.PRE_DOSE and BLOOD_PRESSURE.key in answered
            and bp_needs_recheck(answered[BLOOD_PRESSURE.key], t) and BLOOD_PRESSURE_RECHECK.key not in answered):
        pending.append(BLOOD_PRESSURE_RECHECK)
    return pending


# --- findings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    code: str
    label: str                   # for the prescriber and the record; never sent to a patient's phone
    severity: Severity | None    # None: logged on the session, no escalation
    hold: bool = False
    crisis: bool = False         # the crisis message goes to patient and sitter


def deciding_pressure(answers: Mapping[str, Any]) -> list[int] | None:
    return answers.get(BLOOD_PRESSURE_RECHECK.key) or answers.get(BLOOD_PRESSURE.key)


def _pressure_is_urgent(reading: Iterable[int], t: Thresholds) -> bool:
    systolic, diastolic = reading
    return systolic >= t.bp_urgent_systolic or diastolic >= t.bp_urgent_diastolic


def pre_dose_findings(answers: Mapping[str, Any], t: Thresholds) -> list[Finding]:
    """The gates of SPEC §4 on a complete pre-dose report. Any finding with `hold` holds the session."""
    found: list[Finding] = []
    reading = deciding_pressure(answers)
    if reading is not None and _pressure_is_urgent(reading, t):
        found.append(Finding("bp_urgent", f"blood pressure {reading[0]}/{reading[1]} on the recheck",
                             Severity.URGENT, hold=True))
    elif reading is not None and bp_needs_recheck(reading, t):
        found.append(Finding("bp_high", f"blood pressure {reading[0]}/{reading[1]} on the recheck",
                             Severity.MODERATE, hold=True))
    pulse = answers.get(PULSE.key)
    if pulse is not None and (pulse > t.pulse_hold_above or pulse < t.pulse_hold_below):
        found.append(Finding("pulse", f"pulse {pulse}", Severity.MODERATE, hold=True))
    if answers.get(SUBSTANCES.key):
        found.append(Finding("substances", "alcohol, sedatives, opioids or other drugs in the last 24 h",
                             Severity.MODERATE, hold=True))
    if answers.get(SELF_HARM.key):
        found.append(Finding("self_harm", "thoughts of self-harm", Severity.URGENT, hold=True, crisis=True))
    return found


def post_dose_findings(answers: Mapping[str, Any], t: Thresholds) -> list[Finding]:
    found: list[Finding] = []
    if answers.get(CHEST_PAIN.key):
        found.append(Finding("chest_pain", "chest pain or trouble breathing", Severity.URGENT))
    if answers.get(SELF_HARM.key):
        found.append(Finding("self_harm", "thoughts of self-harm", Severity.URGENT, crisis=True))
    reading = answers.get(BLOOD_PRESSURE.key)
    if reading is not None and _pressure_is_urgent(reading, t):
        found.append(Finding("bp_urgent", f"blood pressure {reading[0]}/{reading[1]}", Severity.URGENT))
    nausea = answers.get(NAUSEA.key)
    if nausea == NAUSEA.high:
        found.append(Finding("vomiting", "vomiting", Severity.MODERATE))
    elif nausea:
        found.append(Finding("nausea", f"mild nausea ({nausea}/3)", None))
    dissociation = answers.get(DISSOCIATION.key)
    if dissociation is not None and dissociation >= t.dissociation_moderate_at:
        found.append(Finding("dissociation", f"dissociation or confusion {dissociation}/10", Severity.MODERATE))
    return found


def findings_at_once(questionnaire: Questionnaire, answer: Mapping[str, Any], t: Thresholds) -> list[Finding]:
    """What one answer shows that cannot wait for the rest of its questionnaire: thoughts of
    self-harm before the dose (the crisis lines go out at once, and the session is held), and
    anything urgent after it (SPEC §4: a post-dose finding "or any time")."""
    if questionnaire is Questionnaire.PRE_DOSE:
        return [f for f in pre_dose_findings(answer, t) if f.crisis]
    return [f for f in post_dose_findings(answer, t) if f.severity is Severity.URGENT]


def sitter_reading_findings(reading: Iterable[int], t: Thresholds) -> list[Finding]:
    """A reading the sitter sent with OK, at release or at any check before it. An urgent pressure
    is a post-dose finding at any time (SPEC §4): it escalates, and the patient is not released."""
    if _pressure_is_urgent(reading, t):
        systolic, diastolic = reading
        return [Finding("bp_urgent", f"blood pressure {systolic}/{diastolic} taken by the sitter", Severity.URGENT)]
    return []


def most_severe(findings: Iterable[Finding]) -> Severity | None:
    ranked = [f.severity for f in findings if f.severity is not None]
    return max(ranked, key=lambda s: s.rank) if ranked else None


# --- scheduling limits ---------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesTerms:
    """The prescription's limits on its dose sessions."""

    active: bool
    expires_on: date
    doses_in_series: int
    min_hours_between_doses: int
    max_doses_per_7_days: int
    lozenges_per_dose: int


WEEK = timedelta(days=7)


def spacing_problem(at: datetime, others: Iterable[datetime], min_hours: int) -> str | None:
    gap = timedelta(hours=min_hours)
    for other in others:
        if abs(at - other) < gap:
            return f"Sessions must be at least {min_hours} hours apart."
    return None


def weekly_problem(at: datetime, others: Iterable[datetime], max_per_week: int) -> str | None:
    """Every 7-day span that contains `at` may hold at most `max_per_week` sessions."""
    times = sorted([*others, at])
    for start in times:
        if at - WEEK < start <= at and sum(1 for t in times if start <= t < start + WEEK) > max_per_week:
            return f"At most {max_per_week} sessions in any 7 days."
    return None


def scheduling_problems(*, at: datetime, now: datetime, local_day: date, terms: SeriesTerms,
                        booked: list[datetime], used_in_series: int, on_hand: int, pending_doses: int,
                        has_verified_sitter: bool) -> dict[str, list[str]]:
    """Why a session may not be booked at `at` (empty when it may). `booked` holds the times of the
    patient's other sessions that are not cancelled or missed; `used_in_series` how many of them
    count against the series; `pending_doses` how many booked ones are not taken yet."""
    problems: dict[str, list[str]] = {}

    def add(field: str, message: str | None) -> None:
        if message:
            problems.setdefault(field, []).append(message)

    if at <= now:
        add("scheduled_at", "Choose a time in the future.")
    if not terms.active:
        add("prescription", "The prescription is not active.")
    elif local_day >= terms.expires_on:
        add("prescription", f"The prescription expires on {terms.expires_on.isoformat()}.")
    if used_in_series >= terms.doses_in_series:
        add("prescription", f"All {terms.doses_in_series} sessions of the series are booked or done.")
    add("scheduled_at", spacing_problem(at, booked, terms.min_hours_between_doses))
    add("scheduled_at", weekly_problem(at, booked, terms.max_doses_per_7_days))
    if on_hand < terms.lozenges_per_dose * (pending_doses + 1):
        add("on_hand", "Not enough on hand for this session and those already booked.")
    if not has_verified_sitter:
        add("sitter", "An active sitter with a confirmed phone is needed.")
    return problems


# --- local time ----------------------------------------------------------------------------

BEYOND_THE_PRESCRIPTION = "Choose a date within the prescription."


def local_to_utc(day: date, at: time, zone_name: str) -> datetime:
    """A wall-clock time in the patient's zone as UTC. A time that does not exist that day (the
    clocks jump forward) is refused; one that happens twice (they fall back) means the first.
    A day whose time in UTC falls off the calendar (9999-12-31 late in the Americas) is refused too."""
    if at.tzinfo is not None:
        # Dropping the offset would read "09:00Z" as 9 AM the patient's time: a different moment.
        raise ValueError("a wall-clock time in the patient's zone carries no UTC offset")
    zone = ZoneInfo(zone_name)
    naive = datetime.combine(day, at.replace(fold=0))
    try:
        moment = naive.replace(tzinfo=zone).astimezone(timezone.utc)
    except OverflowError:
        raise RuleViolation(BEYOND_THE_PRESCRIPTION, {"local_date": [BEYOND_THE_PRESCRIPTION]}) from None
    if moment.astimezone(zone).replace(tzinfo=None) != naive:
        message = f"{at.strftime('%H:%M')} does not exist on {day.isoformat()} (the clocks change)."
        raise RuleViolation(message, {"scheduled_at": [message]})
    return moment


def to_local(moment: datetime, zone_name: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone_name))


def local_label(moment: datetime, zone_name: str) -> str:
    """How a patient or sitter reads a time: "Tue 24 Nov 9:30 AM EST"."""
    local = to_local(moment, zone_name)
    return local.strftime("%a %d %b %-I:%M %p %Z")


def clock_label(moment: datetime, zone_name: str) -> str:
    """Just the time of day, for a text about today: "9:30 AM"."""
    return to_local(moment, zone_name).strftime("%-I:%M %p")
