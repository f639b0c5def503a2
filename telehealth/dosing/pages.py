"""What the dose-session pages show: for the patient, the session under way and what is due now in
plain words; for the care team, the course's sessions with their alerts, hold findings and charts;
and, for the portal and the API alike, what a check-in's result says.

Reads only: the verbs are in `checkins` and `scheduling`. The list of a patient's sessions always
comes from `scheduling.sessions_of`, which audits a staff read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient
from telehealth.actor import Actor
from telehealth.dosing import charts, checkins, rules, scheduling
from telehealth.dosing.models import DoseSession
from telehealth.dosing.operations import (UPCOMING, DosingSettings, Outcome, Result, answers, clock_label,
                                          local_label, open_escalations)
from telehealth.dosing.rules import BLOOD_PRESSURE_RECHECK, SELF_HARM, Question, Questionnaire
from telehealth.dosing.rules import SessionState as S
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Severity
from telehealth.messaging import templates

# The same words as the texts: one place for the crisis lines.
CRISIS = templates.CRISIS_LINES
URGENT = templates.URGENT_LINES
# The stylesheet's state colours: good, waiting, stopped, done.
STATE_STYLE = {"scheduled": "draft", "open": "delivered", "cleared": "cleared", "dosed": "in-transit",
               "observing": "in-transit", "completed": "completed", "on_hold": "held", "missed": "cancelled",
               "cancelled": "cancelled"}


# --- what a check-in did, in words ------------------------------------------------------------

def describe(result: Result) -> list[str]:
    """The result of a check-in, booking or skip as the patient reads it on a page (or in JSON)."""
    s, outcome = result.dose_session, result.outcome
    at = clock_label(s, result.at) if result.at else ""
    words = {
        Outcome.ASK: "Thank you. One more answer is needed below.",
        Outcome.REST_THEN_ASK: f"Thank you. Your blood pressure was high: please rest quietly and measure it again "
                               f"at {at}. The box for it appears on this page then.",
        Outcome.KEEP_RESTING: f"Thank you. Your blood pressure was high: please rest quietly and measure it again "
                              f"at {at}. The box for it appears on this page then.",
        Outcome.WAITING_FOR_SITTER: "Thank you, your check-in is complete. You will be cleared as soon as your "
                                    "sitter texts HERE.",
        Outcome.CLEARED: f"You are cleared. Take it now with your sitter there, and press 'I have taken it' by {at}.",
        Outcome.HELD: "Please do not take it today: your session is on hold. Your prescriber will contact you.",
        Outcome.NOT_CLEARED: f"You are not cleared for this session: {result.problem} Please do not take it. "
                             "The clinic will contact you.",
        Outcome.TAKEN: f"Recorded as taken. Stay with your sitter and rest. Your after-session check-in opens at {at}.",
        Outcome.TAKEN_AFTER_EXPIRY: "Recorded as taken. Please rest with your sitter there now. Your prescriber has "
                                    "been alerted and will contact you. Emergency: 911.",
        Outcome.POST_DOSE_RECORDED: f"Thank you, your after-session check-in is recorded. Rest with your sitter; "
                                    f"they can end the session from {at}.",
        Outcome.POST_DOSE_URGENT: URGENT,
        Outcome.CANCELLED: f"Your session of {local_label(s, s.scheduled_at)} is cancelled. Please do not take it.",
        Outcome.HOLD_RELEASED: "The hold is released.",
    }
    lines = [words.get(outcome, "Thank you, recorded.")]
    if result.crisis:
        lines.append(CRISIS)
    return lines


# --- the patient's portal -----------------------------------------------------------------------

@dataclass
class Due:
    """The patient's session under way (or next), and what is due in it now."""

    dose_session: DoseSession | None
    headline: str
    lines: list[str] = field(default_factory=list)
    questionnaire: Questionnaire | None = None
    questions: list[Question] = field(default_factory=list)   # the open ones to show as a form
    answered_elsewhere: bool = False   # some were already answered by text
    may_take: bool = False
    may_skip: bool = False
    crisis: bool = False
    urgent: bool = False


def current(sessions: list[DoseSession]) -> DoseSession | None:
    """The session the check-in verbs act on: the earliest not yet finished."""
    return next((s for s in sessions if s.state in UPCOMING), None)


def due_now(session: Session, settings: DosingSettings, dose_session: DoseSession | None) -> Due:
    if dose_session is None:
        return Due(None, "You have no session booked. You or your prescriber can book one below.")
    s, now, t = dose_session, clock.now(), settings.timings
    may_skip = s.state.before_dose
    if s.state is S.SCHEDULED:
        opens = s.scheduled_at - t.window_opens_before
        return Due(s, f"Your next session is {local_label(s, s.scheduled_at)}.",
                   [f"Your check-in opens at {local_label(s, opens)}. Have your sitter with you then."], may_skip=may_skip)
    if s.state is S.OPEN and s.pre_dose_completed_at is None:
        return _questionnaire(session, settings, s, Questionnaire.PRE_DOSE,
                              f"Your session is {local_label(s, s.scheduled_at)}. Your check-in is open")
    if s.state is S.OPEN:
        return Due(s, "Your check-in is complete.",
                   ["You will be cleared as soon as your sitter texts HERE."], may_skip=may_skip)
    if s.state is S.CLEARED:
        until = s.cleared_at + t.dose_taken_within
        return Due(s, f"You are cleared. Take it now with your sitter there, and press 'I have taken it' by "
                      f"{clock_label(s, until)}.", may_take=True, may_skip=may_skip)
    if s.state is S.ON_HOLD:
        crisis = bool(answers(session, s, Questionnaire.PRE_DOSE).get(SELF_HARM.key))
        return Due(s, "Your session is on hold. Please do not take it.",
                   ["Your prescriber will contact you."], may_skip=may_skip, crisis=crisis)
    if s.state is S.DOSED:
        opens = s.dosed_at + t.post_dose_report_after
        if now < opens:
            return Due(s, f"Recorded as taken at {clock_label(s, s.dosed_at)}. Stay with your sitter and rest.",
                       [f"Your after-session check-in opens at {clock_label(s, opens)}."])
        return _questionnaire(session, settings, s, Questionnaire.POST_DOSE,
                              "Time for your after-session check-in")
    given = answers(session, s, Questionnaire.POST_DOSE)   # observing
    findings = rules.post_dose_findings(given, settings.thresholds)
    return Due(s, "Your after-session check-in is recorded. Rest with your sitter.",
               [f"Your sitter can end the session from {clock_label(s, s.dosed_at + t.release_after)}."],
               crisis=any(f.crisis for f in findings), urgent=rules.most_severe(findings) is Severity.URGENT)


def _questionnaire(session: Session, settings: DosingSettings, s: DoseSession, questionnaire: Questionnaire,
                   headline: str) -> Due:
    given = answers(session, s, questionnaire)
    left = rules.questions_left(questionnaire, given, settings.thresholds)
    lines = []
    if questionnaire is Questionnaire.PRE_DOSE and s.sitter_arrived_at is None:
        lines.append("Your sitter has not texted HERE yet; you are cleared only once they have.")
    if BLOOD_PRESSURE_RECHECK in left:
        rest_until = checkins.recheck_due_at(session, settings, s)
        if clock.now() < rest_until:
            left = [q for q in left if q is not BLOOD_PRESSURE_RECHECK]
            lines.append(f"Your first blood pressure was high. Please rest quietly and measure it again at "
                         f"{clock_label(s, rest_until)}; the box for it appears on this page then.")
        else:
            lines.append("You have rested: please measure your blood pressure again and enter it below.")
    headline += ": answer the questions below with your sitter there." if left else "."
    return Due(s, headline, lines, questionnaire=questionnaire, questions=left,
               answered_elsewhere=bool(given), may_skip=s.state.before_dose)


def questions_to_show(session: Session, settings: DosingSettings, dose_session: DoseSession | None,
                      questionnaire: Questionnaire) -> list[Question]:
    """The fields of the form the patient posts now (the page they saw may be a little older)."""
    due = due_now(session, settings, dose_session)
    return due.questions if due.questionnaire is questionnaire else []


def portal(session: Session, actor: Actor, settings: DosingSettings, patient: Patient) -> dict[str, Any]:
    sessions = scheduling.sessions_of(session, actor, patient.id)
    under_way = current(sessions)
    due = due_now(session, settings, under_way)
    if under_way is None or under_way.state in (S.SCHEDULED, S.OPEN):
        lapsed = checkins.clearance_lapsed_lately(session, settings, patient.id)
        if lapsed is not None and lapsed.dosed_at is None:
            # As the clearance-expired text says: if taken after all, tell us (`checkins.taken` records it).
            due = Due(lapsed, "Your clearance has ended.", [LAPSED], may_take=True)
    return {"due": due, "dose_sessions": list(reversed(sessions)), "state_style": STATE_STYLE}


LAPSED = "If you have taken it, press 'I have taken it' now. If not, do not take it. The clinic will contact you."


def next_for_record(session: Session, actor: Actor, settings: DosingSettings, patient: Patient) -> Due:
    """The one-line summary on `/me`."""
    return due_now(session, settings, current(scheduling.sessions_of(session, actor, patient.id)))


# --- the care team's panel --------------------------------------------------------------------

@dataclass(frozen=True)
class SessionRow:
    dose_session: DoseSession
    escalations: list[Escalation]

    @property
    def escalated(self) -> bool:
        return bool(self.escalations)


def care_team_panel(session: Session, actor: Actor, settings: DosingSettings, patient: Patient) -> dict[str, Any]:
    sessions = scheduling.sessions_of(session, actor, patient.id)   # audited
    return {"dose_sessions": [SessionRow(s, open_escalations(session, s.id)) for s in sessions],
            "local_label": rules.local_label, "state_style": STATE_STYLE,
            "dose_charts": charts.course_charts(charts.readings(session, sessions), settings.thresholds,
                                                patient.timezone)}
