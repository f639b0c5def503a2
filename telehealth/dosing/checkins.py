"""Check-ins (SPEC §4, §6): the sitter's HERE and OK, the patient's READY, answers, TAKEN, and a
prescriber releasing a hold. The SMS router and the web pages call these same verbs, so whichever
channel answers first wins and the other finds it done.

Each verb raises Conflict (with what to send or do instead) when it does not fit the moment, and
RuleViolation for an answer it cannot read; either way nothing is stored.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Sitter
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.dispensing import inventory
from telehealth.dosing import deadlines, rules
from telehealth.dosing.models import Channel, CheckIn, Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.dosing.operations import (
    ACTIVE, UPCOMING, DosingSettings, Outcome, Result, acknowledge_hold_alert, add_check_in, add_deadline, answers, clock_label, ensure_is_patient,
    escalate, first_answer_at, lock, lock_patient, move, patient_session, replace_inactive_sitter, settle, sitter_session,
    sos_answers_the_check, text_patient, text_sitter, when_label)
from telehealth.dosing.status import upcoming_session
from telehealth.dosing.rules import (BLOOD_PRESSURE, BLOOD_PRESSURE_RECHECK, Event, Question, Questionnaire,
                                     SessionState)
from telehealth.errors import Conflict, NotAllowed, RuleViolation
from telehealth.escalations.rules import Reason, Severity
from telehealth.messaging import consent, templates

# Why a patient is not cleared though every gate passed (told to them as is; no medical words).
NOT_ACTIVE = "your prescription is not active."
TOO_SOON = "it is too soon after your last session."
WEEKLY_LIMIT = "you have had the most sessions allowed in 7 days."
NOTHING_ON_HAND = "there is not enough on hand."
SITTER_OPTED_OUT = "Your number has opted out of our texts. Text START first, then HERE."
# A check-in that comes after its session ended (missed while the sweep was behind).
SESSION_ENDED = "This session has ended: its time has passed. Text STATUS to see what is next."
CLEARANCE_EXPIRED = ("Your clearance has expired. If you have already taken it, text TAKEN now; if not, please "
                     "do not take it. The clinic will contact you.")


# --- the sitter ----------------------------------------------------------------------------

def _as_of_now(session: Session, settings: DosingSettings, found: DoseSession) -> DoseSession:
    """The locked session with what fell due settled first (`deadlines.catch_up`); a session that
    this ends (missed) is refused as the sweep would have left it."""
    deadlines.catch_up(session, settings, found)
    if found.state.finished:
        raise Conflict(SESSION_ENDED)
    return found


def _sitters_session(session: Session, actor: Actor, settings: DosingSettings, sitter_id: int) -> DoseSession:
    found = sitter_session(session, sitter_id, UPCOMING)
    if found is None:
        raise Conflict("No session is open for you now. We will text you before the next one.")
    if found.sitter_id != sitter_id:
        replace_inactive_sitter(session, actor, found, texting=sitter_id)   # booked with one since replaced
    if found.sitter_id != sitter_id:
        raise Conflict("You are not the sitter named for this session. Please call the clinic.")
    return _as_of_now(session, settings, found)


def sitter_here(session: Session, actor: Actor, settings: DosingSettings, sitter_id: int, *, channel: Channel,
                message_id: int | None = None) -> Result:
    """The sitter has arrived and will stay for the whole observation."""
    found = _sitters_session(session, actor, settings, sitter_id)
    if found.state is SessionState.SCHEDULED:
        opens = found.scheduled_at - settings.timings.window_opens_before
        raise Conflict(f"The session opens at {when_label(found, opens)}. Text HERE when you arrive then.")
    if found.sitter_arrived_at is not None:
        raise Conflict("Your arrival is already recorded. Thank you.")
    if consent.is_opted_out(session, found.sitter.phone):
        # The observation checks could not reach them: the patient is not cleared on this sitter.
        raise Conflict(SITTER_OPTED_OUT)
    found.sitter_arrived_at = clock.now()
    add_check_in(session, actor, found, "sitter_arrived", by="sitter", channel=channel, message_id=message_id,
                 sitter_id=sitter_id)
    settle(session, found, [DeadlineKind.SITTER_ARRIVAL], DeadlineState.MET)
    if found.state is SessionState.OPEN and found.pre_dose_completed_at is not None:
        try_clear(session, actor, settings, found, notify_patient=True)
    return Result(Outcome.ARRIVED, found)


def sitter_ok(session: Session, actor: Actor, settings: DosingSettings, sitter_id: int, *, channel: Channel,
              message_id: int | None = None, reading: str | None = None) -> Result:
    """OK: an observation check answered, or, from the release time on with the blood pressure the
    sitter took (`reading`, "128/82"), the patient released. An OK without a reading at release
    time answers the check and asks for the reading; an urgent reading escalates and does not
    release (SPEC §4: an urgent pressure is a post-dose finding at any time)."""
    pressure = None if reading is None else rules.read_answer(rules.BLOOD_PRESSURE_AT_RELEASE, reading)
    found = _sitters_session(session, actor, settings, sitter_id)
    if found.state not in rules.AFTER_DOSE:
        if found.sitter_arrived_at is not None:
            raise Conflict("Your arrival is recorded: please stay with them. OK is for after it has been taken.")
        raise Conflict("Text HERE when you arrive. OK is for after it has been taken.")
    answered = settle(session, found, [DeadlineKind.OBSERVATION_ANSWER], DeadlineState.MET) > 0
    now = clock.now()
    release_from = found.dosed_at + settings.timings.release_after

    def check_in(kind: str, **more: Any) -> None:
        # The reading is kept on the check-in it came with (its time says when it was taken).
        reading_kept = {} if pressure is None else {rules.SITTER_READING: pressure}
        add_check_in(session, actor, found, kind, by="sitter", channel=channel, message_id=message_id,
                     sitter_id=sitter_id, payload={**reading_kept, **more})

    findings = [] if pressure is None else rules.sitter_reading_findings(pressure, settings.thresholds)
    if findings:   # whatever the time: an OK with an urgent pressure is not OK
        check_in("findings.release", findings=[f.label for f in findings])
        escalate(session, actor, settings, found, Reason.ADVERSE_FINDING, rules.most_severe(findings),
                 findings=[f.code for f in findings])
        return Result(Outcome.RELEASE_URGENT, found)
    if now < release_from:
        check_in("observation_ok")
        return Result(Outcome.CHECK_OK if answered else Outcome.STAY_UNTIL, found, at=release_from)
    if pressure is None:
        check_in("observation_ok")
        return Result(Outcome.RELEASE_NEEDS_READING, found)
    check_in("release")
    found.released_at = now
    settle(session, found, [DeadlineKind.RELEASE, DeadlineKind.RELEASE_PROMPT], DeadlineState.MET)
    move(session, actor, found, Event.RELEASE)
    text_patient(session, found, templates.session_complete(settings.clinic))
    return Result(Outcome.RELEASED, found)


def sitter_not_ok(session: Session, actor: Actor, settings: DosingSettings, sitter_id: int, *, channel: Channel,
                  message_id: int | None = None) -> Result:
    """The sitter says the patient is not OK (answering "does the patient respond to their name?"
    with NO): SPEC §4 "sitter says not OK" is urgent, at once; it answers the check."""
    found = sitter_session(session, sitter_id, rules.AFTER_DOSE)
    if found is None or found.sitter_id != sitter_id:
        raise Conflict("No session is under way for you now. If someone is in danger, call 911.")
    sos_answers_the_check(session, found, answer="NOT OK")
    add_check_in(session, actor, found, "observation_not_ok", by="sitter", channel=channel, message_id=message_id,
                 sitter_id=sitter_id)
    # Urgent: it pages again even after an earlier alert of this session was acknowledged.
    escalate(session, actor, settings, found, Reason.ADVERSE_FINDING, Severity.URGENT, findings=["sitter_not_ok"])
    return Result(Outcome.SOS_RAISED, found)


def sitter_sos(session: Session, actor: Actor, settings: DosingSettings, dose_session_id: int, *,
               channel: Channel) -> Result:
    """SOS from the sitter's page (SPEC §6: SOS from anyone is urgent): never refused, whatever
    the session's state; during observation it also answers the check."""
    found = lock(session, dose_session_id)
    sos_answers_the_check(session, found)
    escalate(session, actor, settings, found, Reason.SOS, Severity.URGENT, sender="sitter", channel=channel.value)
    return Result(Outcome.SOS_RAISED, found)


# --- the patient's questionnaires ------------------------------------------------------------

def _patients_session(session: Session, actor: Actor, settings: DosingSettings, patient_id: int) -> DoseSession:
    found = patient_session(session, patient_id, UPCOMING)
    if found is None:
        raise Conflict("You have no session open now. Text STATUS to see what is next.")
    ensure_is_patient(actor, found.patient)
    return _as_of_now(session, settings, found)


def sitter_question_now(session: Session, sitter_id: int) -> str | None:
    """What the sitter's session asks them now (read only): "observation" while a check waits for
    its answer, "release" once the release is due; None otherwise."""
    patient_id = session.scalar(sa.select(Sitter.patient_id).where(Sitter.id == sitter_id))
    found = upcoming_session(session, patient_id) if patient_id is not None else None
    if found is None or found.sitter_id != sitter_id or found.state not in rules.AFTER_DOSE:
        return None
    kinds = set(session.scalars(sa.select(Deadline.kind).where(
        Deadline.dose_session_id == found.id, Deadline.state == DeadlineState.PENDING)))
    if DeadlineKind.OBSERVATION_ANSWER in kinds:
        return "observation"
    if DeadlineKind.RELEASE in kinds and DeadlineKind.RELEASE_PROMPT not in kinds:
        return "release"
    return None


def question_now(session: Session, settings: DosingSettings, patient_id: int) -> str | None:
    """The question the patient's check-in under way asks now (read only, nothing locked), or None
    (none under way, or the recheck while they still rest)."""
    found = upcoming_session(session, patient_id)
    if found is None:
        return None
    try:
        questionnaire = due_questionnaire(found, settings)
    except Conflict:
        return None
    started = found.pre_dose_started_at if questionnaire is Questionnaire.PRE_DOSE else found.post_dose_started_at
    if started is None:
        return None
    step = _next_step(session, settings, found, questionnaire, answers(session, found, questionnaire))
    return step.question if step.outcome is Outcome.ASK else None


def due_questionnaire(found: DoseSession, settings: DosingSettings) -> Questionnaire:
    """The questionnaire due now, or Conflict saying what is due instead."""
    state, now = found.state, clock.now()
    if state is SessionState.SCHEDULED:
        opens = found.scheduled_at - settings.timings.window_opens_before
        raise Conflict(f"Your check-in opens at {when_label(found, opens)}. Text READY then.")
    if state is SessionState.OPEN:
        if found.pre_dose_completed_at is not None:
            raise Conflict("Your check-in is complete. You will be cleared when your sitter texts HERE.")
        return Questionnaire.PRE_DOSE
    if state is SessionState.ON_HOLD:
        raise Conflict("Your session is on hold. Your prescriber will contact you.")
    if state is SessionState.CLEARED:
        raise Conflict("You are cleared. Text TAKEN once you have taken it.")
    if state is SessionState.DOSED:
        opens = found.dosed_at + settings.timings.post_dose_report_after
        if now < opens:
            raise Conflict(f"Your after-session check-in opens at {when_label(found, opens)}. Rest with your sitter.")
        return Questionnaire.POST_DOSE
    raise Conflict("Your after-session check-in is complete. Rest with your sitter.")


def recheck_due_at(session: Session, settings: DosingSettings, found: DoseSession) -> datetime:
    """When the second blood-pressure reading may be taken: a rest after the first one."""
    first = first_answer_at(session, found, f"{Questionnaire.PRE_DOSE.value}.{BLOOD_PRESSURE.key}")
    return (first or clock.now()) + settings.timings.bp_recheck_rest


def _mark_started(found: DoseSession, questionnaire: Questionnaire) -> None:
    if questionnaire is Questionnaire.PRE_DOSE:
        found.pre_dose_started_at = found.pre_dose_started_at or clock.now()
    else:
        found.post_dose_started_at = found.post_dose_started_at or clock.now()


# The answers so far (`given`) are read once per check-in and kept up to date as answers are
# stored, rather than read again at every step: this is the hot path of every SMS answer.

def _next_step(session: Session, settings: DosingSettings, found: DoseSession, questionnaire: Questionnaire,
               given: Mapping[str, Any]) -> Result:
    left = rules.questions_left(questionnaire, given, settings.thresholds)
    if left[0] is BLOOD_PRESSURE_RECHECK:
        rest_until = recheck_due_at(session, settings, found)
        if clock.now() < rest_until:
            return Result(Outcome.KEEP_RESTING, found, at=rest_until)
    return Result(Outcome.ASK, found, question=left[0].key)


def start(session: Session, actor: Actor, settings: DosingSettings, patient_id: int) -> Result:
    """READY: begin (or carry on with) the questionnaire that is due."""
    found = _patients_session(session, actor, settings, patient_id)
    questionnaire = due_questionnaire(found, settings)
    _mark_started(found, questionnaire)
    return _next_step(session, settings, found, questionnaire, answers(session, found, questionnaire))


def answer(session: Session, actor: Actor, settings: DosingSettings, patient_id: int, text: str, *,
           channel: Channel, message_id: int | None = None) -> Result:
    """One answer by SMS: to the first question not yet answered of the questionnaire under way."""
    found = _patients_session(session, actor, settings, patient_id)
    questionnaire = due_questionnaire(found, settings)
    started = found.pre_dose_started_at if questionnaire is Questionnaire.PRE_DOSE else found.post_dose_started_at
    if started is None:
        raise Conflict("Text READY to start your check-in.")
    given = answers(session, found, questionnaire)
    step = _next_step(session, settings, found, questionnaire, given)
    if step.outcome is Outcome.KEEP_RESTING:
        return step   # too early for the second reading: nothing is stored
    question = rules.BY_KEY[step.question]
    value = rules.read_answer(question, text)
    _store(session, actor, found, questionnaire, question, value, channel=channel, message_id=message_id)
    given[question.key] = value
    at_once = rules.findings_at_once(questionnaire, {question.key: value}, settings.thresholds)
    if at_once and rules.questions_left(questionnaire, given, settings.thresholds):
        # A crisis answer is acted on now, not when (or if) the last question is answered.
        if questionnaire is Questionnaire.PRE_DOSE:
            return _hold(session, actor, settings, found, at_once, channel=channel)
        return _urgent_after_dose(session, actor, settings, found, at_once, channel=channel)
    return _after_answers(session, actor, settings, found, questionnaire, given, channel=channel)


def submit(session: Session, actor: Actor, settings: DosingSettings, patient_id: int,
           questionnaire: Questionnaire, values: Mapping[str, Any], *, channel: Channel) -> Result:
    """A whole questionnaire from the web or the API: every question still open is answered at once,
    or nothing is stored. Questions already answered by text keep their first answer."""
    # An answer to the other questionnaire (chest pain with the pre-dose one) is refused, not dropped.
    others = sorted(set(values) - rules.ANSWER_KEYS[questionnaire])
    if others:
        raise RuleViolation(rules.NOT_A_QUESTION, {key: [rules.NOT_A_QUESTION] for key in others})
    found = _patients_session(session, actor, settings, patient_id)
    due = due_questionnaire(found, settings)
    if due is not questionnaire:
        raise Conflict("That check-in is not the one due now.")
    _mark_started(found, questionnaire)
    given = answers(session, found, questionnaire)
    left = rules.questions_left(questionnaire, given, settings.thresholds)
    errors: dict[str, list[str]] = {}
    parsed: list[tuple[Question, Any]] = []
    for question in left:
        raw = values.get(question.key)
        if question is BLOOD_PRESSURE_RECHECK:
            rest_until = recheck_due_at(session, settings, found)
            if clock.now() < rest_until:
                if raw not in (None, ""):
                    errors[question.key] = [f"Rest until {clock_label(found, rest_until)}, then measure again."]
                continue
        if raw is None or raw == "":
            errors[question.key] = ["Answer this question."]
            continue
        try:
            parsed.append((question, rules.read_answer(question, raw)))
        except RuleViolation as problem:
            errors.update(problem.errors)
    if errors:
        raise RuleViolation("Some answers need another look.", errors)
    for question, value in parsed:
        _store(session, actor, found, questionnaire, question, value, channel=channel)
        given[question.key] = value
    return _after_answers(session, actor, settings, found, questionnaire, given, channel=channel)


def _store(session: Session, actor: Actor, found: DoseSession, questionnaire: Questionnaire, question: Question,
           value: Any, *, channel: Channel, message_id: int | None = None) -> None:
    add_check_in(session, actor, found, f"{questionnaire.value}.{question.key}", by="patient", channel=channel,
                 payload={"value": value}, message_id=message_id)


def _after_answers(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession,
                   questionnaire: Questionnaire, given: dict[str, Any], *, channel: Channel) -> Result:
    left = rules.questions_left(questionnaire, given, settings.thresholds)
    if not left:
        if questionnaire is Questionnaire.PRE_DOSE:
            return _complete_pre_dose(session, actor, settings, found, given, channel=channel)
        return _complete_post_dose(session, actor, settings, found, given, channel=channel)
    if BLOOD_PRESSURE_RECHECK in left and not _recheck_reminder_set(session, found):
        # The first reading was at a hold threshold: the patient rests, and is reminded when to measure again.
        rest_until = recheck_due_at(session, settings, found)
        add_deadline(session, found, DeadlineKind.BP_RECHECK, rest_until)
        if left[0] is not BLOOD_PRESSURE_RECHECK:
            return Result(Outcome.REST_THEN_ASK, found, question=left[0].key, at=rest_until)
    return _next_step(session, settings, found, questionnaire, given)


def _recheck_reminder_set(session: Session, found: DoseSession) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Deadline).where(
        Deadline.dose_session_id == found.id, Deadline.kind == DeadlineKind.BP_RECHECK)) > 0


def _complete_pre_dose(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession,
                       given: Mapping[str, Any], *, channel: Channel) -> Result:
    found.pre_dose_completed_at = clock.now()
    settle(session, found, [DeadlineKind.PRE_DOSE_REPORT], DeadlineState.MET)
    settle(session, found, [DeadlineKind.BP_RECHECK], DeadlineState.CANCELLED, note="answered")
    # A count that differs from the ledger is a compliance matter (low), never a hold.
    inventory.report_count(session, actor, settings.dispensing, found.patient_id, given[rules.ON_HAND.key],
                           channel=channel.value)
    holds = [finding for finding in rules.pre_dose_findings(given, settings.thresholds) if finding.hold]
    if found.hold_released_by_id is not None:
        # Held at a crisis answer before the end of the check-in, and released by a prescriber
        # who reviewed it: what they released does not hold the session again.
        holds = [finding for finding in holds if finding.label not in (found.hold_findings or [])]
    if not holds:
        return try_clear(session, actor, settings, found, notify_patient=False)
    return _hold(session, actor, settings, found, holds, channel=channel)


def _hold(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession,
          holds: list[rules.Finding], *, channel: Channel) -> Result:
    move(session, actor, found, Event.HOLD, findings=[f.code for f in holds])
    found.held_at = clock.now()
    found.hold_findings = [f.label for f in holds]
    crisis = any(f.crisis for f in holds)
    # A hold after a prescriber released an earlier one is news: its alert, acknowledged at that
    # release, pages again.
    escalate(session, actor, settings, found, Reason.PRE_DOSE_HOLD, rules.most_severe(holds),
             findings=[f.code for f in holds], page_again=found.hold_released_by_id is not None)
    text_sitter(session, found, templates.crisis_to_sitter(settings.clinic) if crisis
                else templates.held_sitter(settings.clinic))
    _crisis_to_patient(session, settings, found, crisis, channel)
    return Result(Outcome.HELD, found, crisis=crisis)


def _crisis_to_patient(session: Session, settings: DosingSettings, found: DoseSession, crisis: bool,
                       channel: Channel) -> None:
    """The crisis lines reach the patient's phone too (SPEC §4). An SMS answer's reply carries them
    (worded by the SMS channel); an answer on the web or the API is followed by a text."""
    if crisis and channel is not Channel.SMS:
        text_patient(session, found, templates.crisis_reply(settings.clinic))


def _complete_post_dose(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession,
                        given: Mapping[str, Any], *, channel: Channel) -> Result:
    found.post_dose_completed_at = clock.now()
    settle(session, found, [DeadlineKind.POST_DOSE_REPORT], DeadlineState.MET)
    settle(session, found, [DeadlineKind.POST_DOSE_PROMPT], DeadlineState.CANCELLED, note="answered")
    move(session, actor, found, Event.REPORT_AFTER_DOSE)
    # Those acted on at once (an urgent answer mid-questionnaire) are logged and paged already.
    acted_on = _post_dose_findings_logged(session, found)
    findings = [f for f in rules.post_dose_findings(given, settings.thresholds) if f.label not in acted_on]
    severity = rules.most_severe(findings)
    if severity is Severity.URGENT:
        return _urgent_after_dose(session, actor, settings, found, findings, channel=channel)
    if findings:
        _log_post_dose_findings(session, actor, found, findings, channel=channel)
    if severity is not None:
        escalate(session, actor, settings, found, Reason.ADVERSE_FINDING, severity,
                 findings=[f.code for f in findings if f.severity is not None])
    return Result(Outcome.POST_DOSE_RECORDED, found, at=found.dosed_at + settings.timings.release_after)


def _log_post_dose_findings(session: Session, actor: Actor, found: DoseSession, findings: list[rules.Finding], *,
                            channel: Channel) -> None:
    # Logged on the session (the dose record's adverse findings), including the mild ones that escalate nothing.
    add_check_in(session, actor, found, "findings.post_dose", by="patient", channel=channel,
                 payload={"findings": [f.label for f in findings]})


def _post_dose_findings_logged(session: Session, found: DoseSession) -> set[str]:
    return {label for payload in session.scalars(sa.select(CheckIn.payload).where(
        CheckIn.dose_session_id == found.id, CheckIn.kind == "findings.post_dose"))
        for label in payload.get("findings", [])}


def _urgent_after_dose(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession,
                       findings: list[rules.Finding], *, channel: Channel) -> Result:
    """An urgent post-dose finding, at the last answer or at once: logged, paged now, the sitter
    told to stay (or the crisis lines), and the patient's reply says call 911 (or 988)."""
    crisis = any(f.crisis for f in findings)
    _log_post_dose_findings(session, actor, found, findings, channel=channel)
    escalate(session, actor, settings, found, Reason.ADVERSE_FINDING, Severity.URGENT,
             findings=[f.code for f in findings if f.severity is not None])
    text_sitter(session, found, templates.crisis_to_sitter(settings.clinic) if crisis
                else templates.sos_reply(settings.clinic))
    _crisis_to_patient(session, settings, found, crisis, channel)
    return Result(Outcome.POST_DOSE_URGENT, found, crisis=crisis)


# --- clearance and the dose ------------------------------------------------------------------

def clearance_problem(session: Session, found: DoseSession) -> str | None:
    """Why a session whose gates all passed still may not go ahead now (told to the patient)."""
    prescription, now = found.prescription, clock.now()
    if prescription.status.value != "active" or rules.to_local(now, found.patient.timezone).date() >= \
            prescription.expires_on:
        return NOT_ACTIVE
    taken = list(session.scalars(sa.select(DoseSession.dosed_at).where(
        DoseSession.patient_id == found.patient_id, DoseSession.id != found.id, DoseSession.dosed_at.is_not(None))))
    if rules.spacing_problem(now, taken, prescription.min_hours_between_doses):
        return TOO_SOON
    if rules.weekly_problem(now, [t for t in taken if t <= now], prescription.max_doses_per_7_days):
        return WEEKLY_LIMIT
    if inventory.on_hand(session, found.patient_id) < prescription.lozenges_per_dose:
        return NOTHING_ON_HAND
    return None


def _renew(session: Session, settings: DosingSettings, found: DoseSession, kinds: list[DeadlineKind], *,
           note: str) -> datetime:
    """The check-in deadlines of `kinds` start again from now (a sitter's arrival, a report): the
    pending ones are cancelled with `note`, new ones fall due an arrival's allowance from now, returned."""
    by = clock.now() + settings.timings.sitter_arrival_after
    settle(session, found, kinds, DeadlineState.CANCELLED, note=note)
    for kind in kinds:
        add_deadline(session, found, kind, by)
    return by


def _withdraw_arrival(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession, why: str) -> None:
    """An arrival that no longer counts (the sitter opted out, or the clinic deactivated them):
    a HERE is wanted again, from them or a replacement, by a renewed deadline, or the session is missed."""
    found.sitter_arrived_at = None
    _renew(session, settings, found, [DeadlineKind.SITTER_ARRIVAL], note="renewed: arrival withdrawn")
    record(session, actor, AuditAction.DOSE_SESSION_ARRIVAL_WITHDRAWN, object_type="dose_session", object_id=found.id,
           patient_id=found.patient_id, details={"why": why, "sitter_id": found.sitter_id})


def try_clear(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession, *,
              notify_patient: bool) -> Result:
    """Both the sitter and a passing pre-dose report are in: clear the patient, or say why not
    (and cancel the session). `notify_patient` when the patient is not the one answering now."""
    if found.sitter_arrived_at is not None and not found.sitter.active:
        _withdraw_arrival(session, actor, settings, found, "the sitter was deactivated")
    elif found.sitter_arrived_at is not None and consent.is_opted_out(session, found.sitter.phone):
        _withdraw_arrival(session, actor, settings, found, "the sitter opted out of texts")
    if found.sitter_arrived_at is None:
        # The observation checks must be able to reach the sitter the patient is cleared on.
        return Result(Outcome.WAITING_FOR_SITTER, found)
    problem = clearance_problem(session, found)
    if problem is not None:
        move(session, actor, found, Event.CANCEL, reason="not cleared")
        found.end_reason = f"not cleared: {problem}"
        if notify_patient:
            text_patient(session, found, templates.not_cleared(settings.clinic, problem))
        text_sitter(session, found, templates.session_missed_sitter(settings.clinic))
        return Result(Outcome.NOT_CLEARED, found, problem=problem)
    now = clock.now()
    move(session, actor, found, Event.CLEAR)
    found.cleared_at = now
    until = now + settings.timings.dose_taken_within
    add_deadline(session, found, DeadlineKind.DOSE_TAKEN_REMINDER, now + settings.timings.dose_taken_reminder)
    add_deadline(session, found, DeadlineKind.DOSE_TAKEN, until)
    if notify_patient:
        text_patient(session, found, templates.cleared(settings.clinic, clock_label(found, until)))
    return Result(Outcome.CLEARED, found, at=until)


def taken(session: Session, actor: Actor, settings: DosingSettings, patient_id: int, *, channel: Channel,
          message_id: int | None = None) -> Result:
    """TAKEN: the dose is written to the ledger and observation begins."""
    lock_patient(session, patient_id)   # a TAKEN after the clearance lapsed renumbers the series
    found = patient_session(session, patient_id, ACTIVE)
    if found is not None:
        ensure_is_patient(actor, found.patient)
        deadlines.catch_up(session, settings, found)
        if found.state is SessionState.MISSED and found.cleared_at is not None:
            return _taken_after_clearance(session, actor, settings, found, channel=channel, message_id=message_id)
    if found is None or found.state.finished or (found.state is SessionState.OPEN):
        # Not cleared now: a clearance that lapsed lately (expired, or the session cancelled) is
        # the one this TAKEN reports, even if a make-up session has opened since.
        lapsed = clearance_lapsed_lately(session, settings, patient_id)
        if lapsed is not None and (found is None or lapsed.dosed_at is None):   # a repeat is told it is in
            ensure_is_patient(actor, lapsed.patient)
            return _taken_after_clearance(session, actor, settings, lock(session, lapsed.id), channel=channel,
                                          message_id=message_id)
    if found is None:
        raise Conflict("You have no session open now. Please do not take anything until you are cleared.")
    if found.state.finished:
        raise Conflict(SESSION_ENDED)
    if found.state in rules.AFTER_DOSE:
        raise Conflict(f"We already recorded it as taken at {clock_label(found, found.dosed_at)}.")
    if found.state is SessionState.ON_HOLD:
        raise Conflict("Please do not take it: your session is on hold. Your prescriber will contact you.")
    if found.state is not SessionState.CLEARED:
        missing = "text READY for your check-in first." if found.pre_dose_completed_at is None \
            else "your sitter must text HERE first."
        raise Conflict(f"Please do not take it yet, you are not cleared: {missing}")
    now, timings = clock.now(), settings.timings
    _take_from_ledger(session, actor, found, refused="Please do not take it:")
    move(session, actor, found, Event.TAKE)
    found.dosed_at = now
    add_check_in(session, actor, found, "dose_taken", by="patient", channel=channel, message_id=message_id)
    settle(session, found, [DeadlineKind.DOSE_TAKEN, DeadlineKind.DOSE_TAKEN_REMINDER], DeadlineState.MET)
    add_deadline(session, found, DeadlineKind.OBSERVATION_CHECK, now + timings.observation_every)
    add_deadline(session, found, DeadlineKind.POST_DOSE_PROMPT, now + timings.post_dose_report_after)
    add_deadline(session, found, DeadlineKind.POST_DOSE_REPORT,
                 now + timings.post_dose_report_after + timings.post_dose_grace)
    add_deadline(session, found, DeadlineKind.RELEASE_PROMPT, now + timings.release_after)
    add_deadline(session, found, DeadlineKind.RELEASE, now + timings.release_after + timings.release_grace)
    return Result(Outcome.TAKEN, found, at=now + timings.post_dose_report_after)


def _take_from_ledger(session: Session, actor: Actor, found: DoseSession, *, refused: str) -> None:
    """The ledger's dose-taken movement for the session. Fewer on hand than a dose (some reported
    wasted or returned since clearance) is refused in the words of the clearance gate, which name
    nothing a text may not, after `refused`."""
    try:
        inventory.record_dose_taken(session, actor, found.patient_id, found.prescription.lozenges_per_dose,
                                    dose_session_id=found.id)
    except RuleViolation:
        raise Conflict(f"{refused} {NOTHING_ON_HAND} Please call the clinic.") from None


def clearance_lapsed_lately(session: Session, settings: DosingSettings, patient_id: int) -> DoseSession | None:
    """The patient's session cleared but ended without a dose in time (its clearance expired, or it
    was cancelled after clearance) within the last `late_taken_within`: a TAKEN now reports it. Its
    `dosed_at` is set once one has (a second TAKEN is told so)."""
    return session.scalar(sa.select(DoseSession).where(
        DoseSession.patient_id == patient_id,
        DoseSession.state.in_([SessionState.MISSED, SessionState.CANCELLED]), DoseSession.cleared_at.is_not(None),
        DoseSession.ended_at >= clock.now() - settings.timings.late_taken_within)
        .order_by(DoseSession.ended_at.desc()).limit(1))


def _taken_after_clearance(session: Session, actor: Actor, settings: DosingSettings, found: DoseSession, *,
                           channel: Channel, message_id: int | None) -> Result:
    """TAKEN after the clearance lapsed (expired, or the session was cancelled after clearance).
    The patient was told not to take it, but says they have:
    what happened is recorded (the ledger's dose-taken movement, the check-in, the time on the
    record), the expired-clearance alert is raised to high so the prescriber is paged (the patient
    may be dosed with nobody watching: the sitter was told the session had not gone ahead), and
    the sitter is asked to stay. The session stays missed: no observation steps follow; the
    prescriber takes it from here. Its record is incomplete, which holds the next shipment."""
    if found.dosed_at is not None:
        raise Conflict(f"We already recorded it as taken at {clock_label(found, found.dosed_at)}.")
    _take_from_ledger(session, actor, found, refused="We could not record it:")
    found.dosed_at = clock.now()
    # It counts in the series again: a make-up booked meanwhile may have taken its number.
    from telehealth.dosing.scheduling import renumber   # here: scheduling imports this module
    renumber(session, actor, found.prescription_id)
    add_check_in(session, actor, found, "dose_taken", by="patient", channel=channel, message_id=message_id,
                 payload={"after_clearance_expired": True})
    escalate(session, actor, settings, found, Reason.MISSED_DOSE_TAKEN, Severity.HIGH, taken_after_expiry=True)
    text_sitter(session, found, templates.taken_after_expiry_sitter(settings.clinic))
    if channel is not Channel.SMS:
        text_patient(session, found, templates.taken_after_expiry(settings.clinic))
    return Result(Outcome.TAKEN_AFTER_EXPIRY, found)


# --- the prescriber's hold ---------------------------------------------------------------------

def release_hold(session: Session, actor: Actor, settings: DosingSettings, dose_session_id: int, *,
                 note: str) -> Result:
    """A prescriber reviewed a held session and lets it go ahead; the note says why."""
    found = lock(session, dose_session_id)
    ensure_may_read_patient(actor, found.patient)
    if actor.role != "prescriber":
        raise NotAllowed("Only a prescriber releases a hold.", object_type="dose_session", object_id=found.id,
                         patient_id=found.patient_id)
    text = (note or "").strip()
    if not text or len(text) > 2000:
        raise RuleViolation("A note is needed.", {"note": ["Say why the session may go ahead (up to 2000 characters)."]})
    move(session, actor, found, Event.RELEASE_HOLD)
    acknowledge_hold_alert(session, actor, found, channel="hold release")
    found.hold_released_by_id, found.hold_release_note = actor.user_id, text
    record(session, actor, AuditAction.DOSE_SESSION_HOLD_RELEASED, object_type="dose_session", object_id=found.id,
           patient_id=found.patient_id, details={"note_length": len(text)})
    # The sitter was told nothing would be taken and may have gone home: an arrival from before the
    # hold does not count. The patient is cleared only once the sitter texts HERE again, after this
    # release (SPEC §1: never a dose alone), and a check-in cut short by the hold is finished first.
    found.sitter_arrived_at = None
    renewed = [DeadlineKind.SITTER_ARRIVAL]
    if found.pre_dose_completed_at is None:
        renewed.append(DeadlineKind.PRE_DOSE_REPORT)
    by = _renew(session, settings, found, renewed, note="renewed at the hold release")
    text_sitter(session, found, templates.hold_released_sitter(settings.clinic, clock_label(found, by)))
    text_patient(session, found, templates.hold_released(settings.clinic) if found.pre_dose_completed_at
                 else templates.hold_released_finish(settings.clinic))
    return Result(Outcome.HOLD_RELEASED, found)
