"""The pre-dose gates and post-dose findings of SPEC §4 through the real check-in verbs (the
same ones behind SMS and web), the prescriber's hold release, SKIP, the ledger on TAKEN and the
staged-release check, and bad input that stores nothing."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.dispensing import inventory
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dispensing.operations import release_blockers
from telehealth.dosing import checkins, scheduling
from telehealth.dosing.models import Channel, CheckIn
from telehealth.dosing.operations import Outcome, open_escalations
from telehealth.dosing.rules import Questionnaire
from telehealth.errors import Conflict, NotAllowed, RuleViolation
from tests.integration import dosing_world as w
from tests.integration.dosing_world import GOOD_POST_DOSE, GOOD_PRE_DOSE

REST = timedelta(minutes=5)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


@pytest.fixture
def opened(c, session, clock):
    """A session booked in two hours, its window open now (sitter not yet there)."""
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    return booked


def check_ins(session, booked) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(CheckIn.kind).where(CheckIn.dose_session_id == booked.id)
                                .order_by(CheckIn.id)))


def report(**changes):
    return {**GOOD_PRE_DOSE, **changes}


def answer_all_but_recheck(session, c, first_reading: str):
    """By SMS: READY, the first blood pressure, then the other answers; returns the first reply."""
    w.ready(session, c)
    first = w.text(session, c, first_reading)
    for key in ("pulse", "substances", "self_harm", "mood", "on_hand"):
        w.text(session, c, GOOD_PRE_DOSE[key])
    return first


# --- blood pressure, decided by the recheck --------------------------------------------------

def test_a_first_reading_of_159_over_99_clears_without_a_recheck(c, session, opened):
    w.here(session, c)
    assert w.pre_dose(session, c, report(blood_pressure="159/99")).outcome is Outcome.CLEARED
    assert "pre_dose.blood_pressure_recheck" not in check_ins(session, opened)


def test_a_first_reading_at_160_over_100_asks_the_patient_to_rest_and_measure_again(c, session, opened, clock):
    w.here(session, c)
    first = answer_all_but_recheck(session, c, "160/100")
    assert (first.outcome, first.question, first.at) == (Outcome.REST_THEN_ASK, "pulse", clock.now() + REST)
    assert w.state_of(session, opened) == "open"


def test_a_recheck_of_159_over_99_clears(c, session, opened, clock):
    w.here(session, c)
    answer_all_but_recheck(session, c, "165/105")
    clock.advance(minutes=5)
    assert w.text(session, c, "159/99").outcome is Outcome.CLEARED
    assert w.state_of(session, opened) == "cleared"
    assert w.escalations_of(session, opened) == []
    # Both readings are kept.
    assert check_ins(session, opened).count("pre_dose.blood_pressure") == 1
    assert check_ins(session, opened).count("pre_dose.blood_pressure_recheck") == 1


@pytest.mark.parametrize(("recheck", "severity"), [("160/99", "moderate"), ("159/100", "moderate"),
                                                   ("179/109", "moderate"), ("180/90", "urgent"),
                                                   ("150/110", "urgent")])
def test_a_recheck_at_a_threshold_holds_with_its_escalation(c, session, opened, clock, recheck, severity):
    w.here(session, c)
    answer_all_but_recheck(session, c, "182/112")
    clock.advance(minutes=5)
    result = w.text(session, c, recheck)
    assert result.outcome is Outcome.HELD
    assert w.state_of(session, opened) == "on_hold"
    assert w.escalations_of(session, opened) == [("pre_dose_hold", severity)]
    assert w.texts_to(session, c.sitter.phone)[-1] == "held_sitter"
    assert w.reloaded(session, opened).hold_findings


def test_the_recheck_is_not_taken_at_4_59_and_is_at_5_00(c, session, opened, clock):
    answer_all_but_recheck(session, c, "170/100")
    clock.advance(minutes=5, seconds=-1)
    early = w.text(session, c, "150/90")
    assert (early.outcome, early.at) == (Outcome.KEEP_RESTING, clock.now() + timedelta(seconds=1))
    assert "pre_dose.blood_pressure_recheck" not in check_ins(session, opened)
    clock.advance(seconds=1)
    assert w.text(session, c, "150/90").outcome is Outcome.WAITING_FOR_SITTER
    assert "pre_dose.blood_pressure_recheck" in check_ins(session, opened)


def test_the_web_form_refuses_a_recheck_before_5_minutes_and_keeps_the_other_answers_for_later(
        c, session, opened, clock):
    w.here(session, c)
    kept = w.pre_dose(session, c, report(blood_pressure="170/100"))
    assert kept.outcome is Outcome.KEEP_RESTING  # the rest are stored; only the recheck is left
    clock.advance(minutes=4, seconds=59)
    with pytest.raises(RuleViolation) as raised:
        w.pre_dose(session, c, {"blood_pressure_recheck": "150/90"})
    assert "blood_pressure_recheck" in raised.value.errors
    session.rollback()
    clock.advance(seconds=1)
    assert w.pre_dose(session, c, {"blood_pressure_recheck": "150/90"}).outcome is Outcome.CLEARED


# --- pulse, substances, self-harm ------------------------------------------------------------

@pytest.mark.parametrize(("pulse", "outcome"), [("120", Outcome.CLEARED), ("121", Outcome.HELD),
                                                ("45", Outcome.CLEARED), ("44", Outcome.HELD)])
def test_a_pulse_above_120_or_below_45_holds(c, session, opened, pulse, outcome):
    w.here(session, c)
    assert w.pre_dose(session, c, report(pulse=pulse)).outcome is outcome
    assert w.escalations_of(session, opened) == ([("pre_dose_hold", "moderate")] if outcome is Outcome.HELD else [])


def test_substances_hold_with_a_moderate_escalation(c, session, opened):
    w.here(session, c)
    assert w.pre_dose(session, c, report(substances="Y")).outcome is Outcome.HELD
    assert w.escalations_of(session, opened) == [("pre_dose_hold", "moderate")]


def test_self_harm_holds_urgently_and_the_crisis_lines_reach_patient_and_sitter(c, session, opened):
    w.here(session, c)
    result = w.pre_dose(session, c, report(self_harm="Y"))
    assert (result.outcome, result.crisis) == (Outcome.HELD, True)
    assert w.escalations_of(session, opened) == [("pre_dose_hold", "urgent")]
    assert w.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"
    assert w.texts_to(session, c.patient.phone)[-1] == "crisis_reply"  # answered on the web: texted too


def test_self_harm_by_sms_leaves_the_crisis_reply_to_the_sms_channel(c, session, opened):
    w.here(session, c)
    w.ready(session, c)
    for key in ("blood_pressure", "pulse", "substances"):
        w.text(session, c, GOOD_PRE_DOSE[key])
    result = w.text(session, c, "Y")
    assert (result.outcome, result.crisis) == (Outcome.HELD, True)
    assert "crisis_reply" not in w.texts_to(session, c.patient.phone)  # the reply to this text carries it
    assert w.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"


def test_on_hand_differing_from_the_ledger_is_a_low_compliance_escalation_and_no_hold(c, session, opened):
    w.here(session, c)
    assert w.pre_dose(session, c, report(on_hand="5")).outcome is Outcome.CLEARED
    assert w.patient_escalations(session, c) == [("inventory_discrepancy", "low")]
    assert inventory.on_hand(session, c.patient.id) == 8  # a count moves nothing


def test_on_hand_matching_the_ledger_raises_nothing(c, session, opened):
    w.here(session, c)
    w.pre_dose(session, c)
    assert w.patient_escalations(session, c) == []


def test_a_passing_report_waits_for_the_sitter_and_clears_when_they_arrive(c, session, opened):
    assert w.pre_dose(session, c).outcome is Outcome.WAITING_FOR_SITTER
    assert w.state_of(session, opened) == "open"
    w.here(session, c)
    assert w.state_of(session, opened) == "cleared"
    assert w.texts_to(session, c.patient.phone)[-1] == "cleared"


# --- the hold: released by a prescriber with a note, or cancelled ---------------------------

@pytest.fixture
def held(c, session, opened):
    w.pre_dose(session, c, report(pulse="130"))
    return opened


def test_a_prescriber_releases_a_hold_with_a_note_and_the_sitter_is_asked_to_text_here_again(c, session, held):
    w.here(session, c)
    result = checkins.release_hold(session, c.doctor, c.settings, held.id, note="Pulse was after climbing stairs.")
    session.commit()
    assert result.outcome is Outcome.HOLD_RELEASED
    found = w.reloaded(session, held)
    assert (found.state.value, found.hold_release_note, found.hold_released_by_id) == \
        ("open", "Pulse was after climbing stairs.", c.prescriber.id)
    assert w.texts_to(session, c.sitter.phone)[-1] == "hold_released_sitter"
    assert w.texts_to(session, c.patient.phone)[-1] == "hold_released"


def test_an_arrival_from_before_the_hold_does_not_clear_the_patient_after_its_release(c, session, clock, held):
    # The sitter was told nothing would be taken today and may have left (SPEC §1: never a dose alone).
    w.here(session, c)
    clock.advance(timedelta(hours=3))
    checkins.release_hold(session, c.doctor, c.settings, held.id, note="Reviewed by phone.")
    session.commit()
    assert w.state_of(session, held) == "open"
    w.here(session, c)
    assert w.state_of(session, held) == "cleared"
    assert w.texts_to(session, c.patient.phone)[-1] == "cleared"


def test_a_sitter_who_does_not_come_back_after_a_hold_release_misses_the_session(c, session, clock, held):
    w.here(session, c)
    checkins.release_hold(session, c.doctor, c.settings, held.id, note="Reviewed by phone.")
    session.commit()
    w.walk_to(session, c, clock.now() + c.settings.timings.sitter_arrival_after - timedelta(seconds=1), clock)
    assert w.state_of(session, held) == "open"
    w.walk_to(session, c, clock.now() + timedelta(seconds=1), clock)
    assert w.state_of(session, held) == "missed"


def test_a_released_hold_without_the_sitter_waits_for_them(c, session, held):
    checkins.release_hold(session, c.doctor, c.settings, held.id, note="Reviewed by phone.")
    session.commit()
    assert w.state_of(session, held) == "open"
    assert w.texts_to(session, c.patient.phone)[-1] == "hold_released"
    w.here(session, c)
    assert w.state_of(session, held) == "cleared"


def test_a_hold_is_not_released_without_a_note(c, session, held):
    with pytest.raises(RuleViolation) as raised:
        checkins.release_hold(session, c.doctor, c.settings, held.id, note="  ")
    assert "note" in raised.value.errors
    session.rollback()
    assert w.state_of(session, held) == "on_hold"


def test_only_a_prescriber_releases_a_hold(c, session, held):
    with pytest.raises(NotAllowed):
        checkins.release_hold(session, c.me, c.settings, held.id, note="I feel fine.")
    session.rollback()
    assert w.state_of(session, held) == "on_hold"


def test_a_prescriber_may_cancel_a_held_session(c, session, held):
    scheduling.cancel_session(session, c.doctor, c.settings, held.id, reason="pulse high, rebook next week")
    session.commit()
    assert w.state_of(session, held) == "cancelled"
    assert w.texts_to(session, c.sitter.phone)[-1] == "session_cancelled_sitter"
    assert set(w.deadlines_of(session, held).values()) <= {"met", "cancelled"}


def test_taken_while_on_hold_is_refused(c, session, held):
    with pytest.raises(Conflict, match="on hold"):
        w.take(session, c)


# --- SKIP before the dose only ------------------------------------------------------------------

def test_skip_before_the_dose_cancels_the_session_and_tells_the_sitter(c, session, opened):
    result = scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.commit()
    assert result.outcome is Outcome.CANCELLED
    assert w.state_of(session, opened) == "cancelled"
    assert w.texts_to(session, c.sitter.phone)[-1] == "session_cancelled_sitter"
    assert set(w.deadlines_of(session, opened).values()) <= {"met", "cancelled"}


def test_skip_when_cleared_still_cancels(c, session, clock):
    booked = w.cleared_session(session, c, clock)
    scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.commit()
    assert w.state_of(session, booked) == "cancelled"


def test_skip_after_the_dose_is_refused_and_changes_nothing(c, session, clock):
    booked = w.dosed_session(session, c, clock)
    with pytest.raises(Conflict, match="cannot be skipped"):
        scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.rollback()
    assert w.state_of(session, booked) == "dosed"


# --- TAKEN, the ledger and the staged release ----------------------------------------------------

def test_taken_writes_the_ledger_s_dose_taken_movement(c, session, clock):
    booked = w.cleared_session(session, c, clock)
    assert w.take(session, c).outcome is Outcome.TAKEN
    movement = session.scalar(sa.select(InventoryMovement).where(InventoryMovement.kind == MovementKind.DOSE_TAKEN))
    assert (movement.quantity, movement.dose_session_id, movement.patient_id) == (-1, booked.id, c.patient.id)
    assert inventory.on_hand(session, c.patient.id) == 7
    assert w.reloaded(session, booked).dosed_at == clock.now()


def test_taken_twice_is_refused_and_the_ledger_moves_once(c, session, clock):
    w.dosed_session(session, c, clock)
    with pytest.raises(Conflict, match="already recorded"):
        w.take(session, c)
    session.rollback()
    assert inventory.on_hand(session, c.patient.id) == 7


def test_taken_before_clearance_is_refused_saying_what_is_missing(c, session, opened):
    with pytest.raises(Conflict, match="text READY"):
        w.take(session, c)
    session.rollback()
    w.pre_dose(session, c)
    with pytest.raises(Conflict, match="sitter must text HERE"):
        w.take(session, c)
    session.rollback()
    assert inventory.on_hand(session, c.patient.id) == 8
    assert "dose_taken" not in check_ins(session, opened)


def test_a_taken_session_without_its_post_dose_report_holds_the_next_package(c, session, clock):
    booked = w.dosed_session(session, c, clock)
    assert release_blockers(session, c.patient.id) == ["session 1 (dosed) has an incomplete record"]
    w.walk_to(session, c, booked.dosed_at + timedelta(minutes=30), clock)
    w.ok(session, c)
    w.walk_to(session, c, booked.dosed_at + timedelta(minutes=60), clock)
    w.ok(session, c)
    w.post_dose(session, c)
    assert release_blockers(session, c.patient.id) == ["session 1 (observing) has an incomplete record"]


def test_a_released_session_with_its_post_dose_report_holds_nothing(c, session, clock):
    booked = w.dosed_session(session, c, clock)
    for minutes in (30, 60, 90):
        w.walk_to(session, c, booked.dosed_at + timedelta(minutes=minutes), clock)
        if minutes == 60:
            w.post_dose(session, c)
        w.ok(session, c)
    w.walk_to(session, c, booked.dosed_at + timedelta(minutes=120), clock)
    assert w.ok(session, c).outcome is Outcome.RELEASED
    assert release_blockers(session, c.patient.id) == []


def test_a_held_session_holds_the_next_package(c, session, held):
    assert any("on hold" in problem for problem in release_blockers(session, c.patient.id))


# --- post-dose findings -------------------------------------------------------------------------

@pytest.fixture
def report_due(c, session, clock):
    booked = w.dosed_session(session, c, clock)
    clock.advance(minutes=60)
    return booked


def after(**changes):
    return {**GOOD_POST_DOSE, **changes}


def test_the_post_dose_report_is_not_taken_before_60_minutes(c, session, clock):
    w.dosed_session(session, c, clock)
    clock.advance(minutes=60, seconds=-1)
    with pytest.raises(Conflict, match="opens at"):
        w.post_dose(session, c)


def test_chest_pain_after_the_dose_is_urgent_and_the_sitter_is_told_to_call_911(c, session, report_due):
    assert w.post_dose(session, c, after(chest_pain="Y")).outcome is Outcome.POST_DOSE_URGENT
    assert w.escalations_of(session, report_due) == [("adverse_finding", "urgent")]
    assert w.texts_to(session, c.sitter.phone)[-1] == "sos_reply"


def test_self_harm_after_the_dose_sends_the_crisis_lines_to_patient_and_sitter(c, session, report_due):
    result = w.post_dose(session, c, after(self_harm="Y"))
    assert (result.outcome, result.crisis) == (Outcome.POST_DOSE_URGENT, True)
    assert w.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"
    assert w.texts_to(session, c.patient.phone)[-1] == "crisis_reply"


def test_vomiting_is_a_moderate_escalation(c, session, report_due):
    assert w.post_dose(session, c, after(nausea="3")).outcome is Outcome.POST_DOSE_RECORDED
    assert w.escalations_of(session, report_due) == [("adverse_finding", "moderate")]


@pytest.mark.parametrize(("dissociation", "escalated"), [("8", [("adverse_finding", "moderate")]), ("7", [])])
def test_dissociation_of_8_is_moderate_and_7_is_nothing(c, session, report_due, dissociation, escalated):
    w.post_dose(session, c, after(dissociation=dissociation))
    assert w.escalations_of(session, report_due) == escalated


def test_mild_nausea_is_logged_on_the_session_without_an_escalation(c, session, report_due):
    w.post_dose(session, c, after(nausea="1"))
    assert w.escalations_of(session, report_due) == []
    logged = session.scalar(sa.select(CheckIn).where(CheckIn.dose_session_id == report_due.id,
                                                     CheckIn.kind == "findings.post_dose"))
    assert logged.payload == {"findings": ["mild nausea (1/3)"]}


def test_a_good_post_dose_report_moves_the_session_to_observing(c, session, report_due, clock):
    result = w.post_dose(session, c)
    assert (result.outcome, result.at) == (Outcome.POST_DOSE_RECORDED, report_due.dosed_at + timedelta(minutes=120))
    assert w.state_of(session, report_due) == "observing"


# --- both channels mixed, bad input ---------------------------------------------------------------

def test_answers_given_by_sms_keep_their_first_value_when_the_web_form_follows(c, session, opened):
    w.ready(session, c)
    w.text(session, c, "130/85")
    w.text(session, c, "70")
    w.here(session, c)
    assert w.pre_dose(session, c, report(blood_pressure="185/115", pulse="130")).outcome is Outcome.CLEARED
    given = {kind: payload["value"] for kind, payload in session.execute(
        sa.select(CheckIn.kind, CheckIn.payload).where(CheckIn.dose_session_id == opened.id,
                                                       CheckIn.kind.startswith("pre_dose.")))}
    assert (given["pre_dose.blood_pressure"], given["pre_dose.pulse"]) == ([130, 85], 70)
    channels = dict(session.execute(sa.select(CheckIn.kind, CheckIn.channel).where(
        CheckIn.dose_session_id == opened.id, CheckIn.kind.startswith("pre_dose."))).all())
    assert (channels["pre_dose.blood_pressure"], channels["pre_dose.mood"]) == (Channel.SMS, Channel.WEB)


def test_the_web_form_after_an_sms_completed_report_finds_it_done(c, session, opened):
    w.ready(session, c)
    for key in ("blood_pressure", "pulse", "substances", "self_harm", "mood", "on_hand"):
        w.text(session, c, GOOD_PRE_DOSE[key])
    with pytest.raises(Conflict, match="complete"):
        w.pre_dose(session, c)


@pytest.mark.parametrize("text", ["128/", "300/20", "abc", "7/0"])
def test_an_unreadable_answer_stores_nothing_and_says_what_to_send(c, session, opened, text):
    w.ready(session, c)
    with pytest.raises(RuleViolation) as raised:
        w.text(session, c, text)
    assert "128/82" in raised.value.errors["blood_pressure"][0]
    session.rollback()
    assert check_ins(session, opened) == []


def test_a_web_form_with_one_bad_answer_stores_none_of_them(c, session, opened):
    with pytest.raises(RuleViolation) as raised:
        w.pre_dose(session, c, report(pulse="300", mood=""))
    assert set(raised.value.errors) == {"pulse", "mood"}
    session.rollback()
    assert check_ins(session, opened) == []


def test_an_answer_before_ready_asks_for_ready(c, session, opened):
    with pytest.raises(Conflict, match="READY"):
        w.text(session, c, "128/82")


def test_an_answer_with_no_open_session_says_so(c, session):
    w.book(session, c, w.in_hours(24))
    with pytest.raises(Conflict, match="opens at"):
        w.ready(session, c)


def test_an_answer_with_no_session_at_all_says_so(c, session):
    with pytest.raises(Conflict, match="no session open"):
        w.text(session, c, "128/82")


def test_a_second_here_is_refused_and_stored_once(c, session, opened):
    w.here(session, c)
    with pytest.raises(Conflict, match="already recorded"):
        w.here(session, c)
    session.rollback()
    assert check_ins(session, opened) == ["sitter_arrived"]


def test_ok_before_the_dose_is_refused(c, session, opened):
    with pytest.raises(Conflict, match="HERE"):
        w.ok(session, c)


def test_here_before_the_window_opens_says_when_it_does(c, session):
    w.book(session, c, w.in_hours(2))
    with pytest.raises(Conflict, match="opens at"):
        w.here(session, c)


def test_the_patient_cannot_answer_for_another_patient(c, app, session, make, opened):
    other = w.course(app, session, make)
    with pytest.raises(NotAllowed):
        checkins.answer(session, other.me, c.settings, c.patient.id, "128/82", channel=Channel.WEB)


def test_a_sitter_not_named_on_the_session_cannot_check_in(c, session, opened, clock):
    from telehealth.accounts.models import Sitter
    second = Sitter(patient_id=c.patient.id, full_name="Sam Second", phone="+12015550198",
                    relationship_to_patient="sibling", phone_verified_at=clock.now(), consent_at=clock.now(),
                    active=True, created_at=clock.now())
    session.add(second)
    session.commit()
    with pytest.raises(Conflict, match="not the sitter named"):
        checkins.sitter_here(session, w.SITTER_ACTOR, c.settings, second.id, channel=Channel.SMS)
    session.rollback()
    assert check_ins(session, opened) == []


def test_the_questionnaire_due_is_the_one_the_web_form_must_send(c, session, opened):
    with pytest.raises(Conflict, match="not the one due"):
        checkins.submit(session, c.me, c.settings, c.patient.id, Questionnaire.POST_DOSE, GOOD_POST_DOSE,
                        channel=Channel.WEB)


# --- a crisis answer acts at once -------------------------------------------------------------

def test_a_yes_to_self_harm_holds_the_session_at_once_even_if_the_check_in_stops_there(c, session, clock, opened):
    w.here(session, c)
    w.ready(session, c)
    for words in ("128/82", "72", "N", "Y"):
        w.text(session, c, words)
    assert w.state_of(session, opened) == "on_hold"
    assert w.escalations_of(session, opened) == [("pre_dose_hold", "urgent")]
    assert w.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"
    w.walk_to(session, c, opened.scheduled_at + timedelta(hours=1), clock)   # no "missed" on top of it
    assert w.escalations_of(session, opened) == [("pre_dose_hold", "urgent")]


def test_after_a_crisis_hold_is_released_the_check_in_is_finished_and_not_held_again_for_it(c, session, opened):
    w.here(session, c)
    w.ready(session, c)
    for words in ("128/82", "72", "N", "Y"):
        w.text(session, c, words)
    checkins.release_hold(session, c.doctor, c.settings, opened.id, note="Spoke with them: passive thought, safe.")
    session.commit()
    assert w.texts_to(session, c.patient.phone)[-1] == "hold_released_finish"
    w.ready(session, c)
    w.text(session, c, "6")
    assert w.text(session, c, "8").outcome is Outcome.WAITING_FOR_SITTER
    w.here(session, c)
    assert w.state_of(session, opened) == "cleared"


def test_a_finding_the_prescriber_did_not_release_still_holds_when_the_check_in_is_finished(c, session, opened):
    w.here(session, c)
    w.ready(session, c)
    for words in ("128/82", "130", "N", "Y"):   # pulse 130 waits for the end; self-harm does not
        w.text(session, c, words)
    checkins.release_hold(session, c.doctor, c.settings, opened.id, note="Spoke with them: passive thought, safe.")
    session.commit()
    w.ready(session, c)
    w.text(session, c, "6")
    assert w.text(session, c, "8").outcome is Outcome.HELD


def test_chest_pain_after_the_dose_is_paged_at_once_not_at_the_last_question(c, session, clock):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + c.settings.timings.post_dose_report_after, clock)
    w.ready(session, c)
    result = w.text(session, c, "Y")
    assert (result.outcome, result.crisis) == (Outcome.POST_DOSE_URGENT, False)
    assert ("adverse_finding", "urgent") in w.escalations_of(session, dosed)
    assert w.texts_to(session, c.sitter.phone)[-1] == "sos_reply"


def test_thoughts_of_self_harm_after_the_dose_get_the_crisis_lines_at_once(c, session, clock):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + c.settings.timings.post_dose_report_after, clock)
    w.ready(session, c)
    w.text(session, c, "N")
    result = w.text(session, c, "Y")
    assert (result.outcome, result.crisis) == (Outcome.POST_DOSE_URGENT, True)
    assert ("adverse_finding", "urgent") in w.escalations_of(session, dosed)
    assert w.texts_to(session, c.sitter.phone)[-1] == "crisis_to_sitter"


def test_releasing_a_hold_acknowledges_its_alert_so_paging_stops(c, session, clock, held):
    checkins.release_hold(session, c.doctor, c.settings, held.id, note="Pulse was after climbing stairs.")
    session.commit()
    [alert] = open_escalations(session, held.id)
    assert (alert.state.value, alert.acknowledged_by_id) == ("acknowledged", c.prescriber.id)
    assert alert.next_page_at is None


def test_cancelling_a_held_session_acknowledges_its_alert(c, session, held):
    scheduling.cancel_session(session, c.doctor, c.settings, held.id, reason="Spoke with them; next week.")
    session.commit()
    [alert] = open_escalations(session, held.id)
    assert alert.state.value == "acknowledged"


# --- a sitter replaced after the booking -------------------------------------------------------

def replacement_sitter(session, c):
    from telehealth import clock as clock_module
    from telehealth.accounts.models import Sitter
    from telehealth.accounts.sitters import deactivate_sitter
    deactivate_sitter(session, c.doctor, c.sitter.id)
    new = Sitter(patient_id=c.patient.id, full_name="Nia Newsitter", phone="+12025550177",
                 relationship_to_patient="sister", phone_verified_at=clock_module.now(),
                 consent_at=clock_module.now(), active=True, created_at=clock_module.now())
    session.add(new)
    session.commit()
    return new


def test_a_session_booked_with_a_sitter_since_deactivated_goes_ahead_with_the_new_one(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    new = replacement_sitter(session, c)
    w.open_window(session, c, booked, clock)
    assert w.reloaded(session, booked).sitter_id == new.id
    assert w.texts_to(session, new.phone)[-1] == "window_open_sitter"
    checkins.sitter_here(session, w.SITTER_ACTOR, c.settings, new.id, channel=Channel.SMS)
    session.commit()
    assert w.reloaded(session, booked).sitter_arrived_at is not None


def test_the_new_sitter_s_here_is_taken_when_the_old_one_was_deactivated_after_the_window_opened(
        c, session, clock, opened):
    new = replacement_sitter(session, c)
    checkins.sitter_here(session, w.SITTER_ACTOR, c.settings, new.id, channel=Channel.SMS)
    session.commit()
    found = w.reloaded(session, opened)
    assert (found.sitter_id, found.sitter_arrived_at is not None) == (new.id, True)


def test_a_sitter_of_another_session_is_still_refused_while_the_named_one_is_active(c, session, clock, opened):
    from telehealth.accounts.models import Sitter
    from telehealth import clock as clock_module
    other = Sitter(patient_id=c.patient.id, full_name="Otto Other", phone="+12025550178",
                   relationship_to_patient="friend", phone_verified_at=clock_module.now(),
                   consent_at=clock_module.now(), active=True, created_at=clock_module.now())
    session.add(other)
    session.commit()
    with pytest.raises(Conflict, match="not the sitter named"):
        checkins.sitter_here(session, w.SITTER_ACTOR, c.settings, other.id, channel=Channel.SMS)
