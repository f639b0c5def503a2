"""Dose sessions at their edges: a TAKEN after the clearance lapsed, a hold released and then held
again, an urgent answer acted on at once and not again at the end, a sitter's link after the sitter
was replaced or the session passed, a booking meeting the sweep on PostgreSQL, STATUS after a hold
release, prompts sent late while they can still be answered, SKIP with the sweep behind, and what
the dose record keeps of it all."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.actor import Actor
from telehealth.compliance import dose_records
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dosing import checkins, scheduling, status
from telehealth.dosing.models import DoseSession
from telehealth.dosing.operations import Outcome
from telehealth.errors import Conflict
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import State
from telehealth.messaging.models import Message
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)   # America/Chicago; it is 9:00 AM CST


@pytest.fixture
def opened(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))   # 11:00 AM CST; the window opens at 10:30
    w.open_window(session, c, booked, clock)
    return booked


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user("compliance"))


def held_then_released_at_11_20(session, c, clock, booked):
    """Held on the pre-dose report (substances), released by the prescriber at 11:20 AM: the sitter
    must text HERE again, by 11:50 AM (release + 30 minutes)."""
    w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
    assert w.state_of(session, booked) == "on_hold"
    clock.set(booked.scheduled_at + 20 * MINUTE)
    checkins.release_hold(session, c.doctor, c.settings, booked.id, note="Reviewed; one glass of wine two days ago.")
    session.commit()
    assert w.state_of(session, booked) == "open"
    told = session.scalars(sa.select(Message.body).where(Message.to_phone == c.sitter.phone)
                           .order_by(Message.id.desc()).limit(1)).one()
    assert "text HERE by 11:50 AM" in told, told   # what the sitter was texted at the release


# --- STATUS after a hold release ---------------------------------------------------------------

def test_status_after_a_hold_release_gives_the_patient_the_renewed_deadline_for_the_sitter(session, c, clock,
                                                                                           opened):
    held_then_released_at_11_20(session, c, clock, opened)
    session.expire_all()
    summary = status.patient_summary(session, c.settings, c.patient.id)
    # The sitter has until 11:50 AM (release_hold renews the arrival deadline), not the 11:30 AM of
    # the session as booked.
    assert "11:30 AM" not in summary, summary
    assert "11:50 AM" in summary, summary


def test_status_after_a_hold_release_gives_the_sitter_the_renewed_deadline_for_here(session, c, clock, opened):
    held_then_released_at_11_20(session, c, clock, opened)
    session.expire_all()
    summary = status.sitter_summary(session, c.settings, c.sitter.id)
    assert "by 11:50 AM" in summary, summary


# --- prompts that are the only way the next step is asked for -----------------------------------

def test_a_post_dose_prompt_11_minutes_late_is_still_sent_while_the_report_can_be_made_in_time(session, c, clock):
    dosed = w.dosed_session(session, c, clock)
    clock.set(dosed.dosed_at + 71 * MINUTE)   # the scheduler was 11 minutes behind; the report is due by 75
    w.sweep(session, c)
    assert w.state_of(session, dosed) == "dosed"
    assert w.deadlines_of(session, dosed)[f"post_dose_report@{dosed.dosed_at + 75 * MINUTE:%H:%M}"] == "pending"
    # The patient was told "We will ask how you feel at ...": the ask comes, late, while the report
    # can still be made in time.
    assert "post_dose_due" in w.texts_to(session, c.patient.phone)


def test_a_release_prompt_11_minutes_late_is_still_sent_while_release_can_be_made_in_time(session, c, clock):
    dosed = w.dosed_session(session, c, clock)
    for minutes in (30, 60, 90):
        w.walk_to(session, c, dosed.dosed_at + minutes * MINUTE, clock)
        w.ok(session, c, reading=None)
        if minutes == 60:
            w.post_dose(session, c)
    clock.set(dosed.dosed_at + 131 * MINUTE)   # 11 minutes behind; the release is due by 135
    w.sweep(session, c)
    assert w.state_of(session, dosed) == "observing"
    # The sitter was told to "stay until we ask you to release": the prompt is the only ask.
    assert "release_due" in w.texts_to(session, c.sitter.phone)


# --- SKIP with the sweep behind ------------------------------------------------------------------

def test_skip_after_the_arrival_deadline_passed_unswept_does_not_erase_the_missed_session(session, c, clock, opened):
    w.pre_dose(session, c)                                    # the sitter never texts HERE
    clock.set(opened.scheduled_at + 35 * MINUTE)              # arrival was due at +30; the sweep is behind
    with pytest.raises(Conflict, match="has ended"):
        scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.rollback()
    w.sweep(session, c)
    # SKIP settles what fell due first (deadlines.catch_up), as every check-in does: the session is
    # missed and escalated, not "skipped".
    assert ("missed_sitter_arrival", "moderate") in w.escalations_of(session, opened)
    assert w.state_of(session, opened) == "missed"


def test_skip_after_the_clearance_expired_unswept_does_not_erase_the_missed_dose_taken(session, c, clock):
    cleared = w.cleared_session(session, c, clock)
    clock.set(cleared.cleared_at + 31 * MINUTE)               # TAKEN was due by +30; the sweep is behind
    with pytest.raises(Conflict, match="clearance has expired"):
        scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.rollback()
    w.sweep(session, c)
    # A clearance that expired without TAKEN may be a dose taken unreported: the low escalation
    # must stand whatever the patient texts afterwards.
    assert ("missed_dose_taken", "low") in w.escalations_of(session, cleared)


# --- dose records -----------------------------------------------------------------------------------

def test_an_urgent_post_dose_answer_acted_on_at_once_is_an_adverse_finding_on_the_dose_record(session, c, clock,
                                                                                              officer):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 60 * MINUTE, clock)
    w.ok(session, c, reading=None)
    w.ready(session, c)
    result = w.text(session, c, "Y")   # chest pain or trouble breathing: paged now, the reply says call 911
    assert result.outcome.value == "post_dose_urgent"
    assert ("adverse_finding", "urgent") in w.escalations_of(session, dosed)
    record = dose_records.read_dose_record(session, officer, dosed.id)
    assert record.post.get("chest_pain") is True
    # The patient went to call 911 and never finished the questionnaire: the record's adverse
    # findings still name the chest pain.
    assert "chest pain or trouble breathing" in record.findings, record.findings


# --- the next window closing a stale held session, under concurrency (PostgreSQL) ------------------

def test_a_held_session_a_text_had_locked_as_the_next_window_opened_is_closed_by_the_next_check_in(
        committed_app, scratch_database_url, clock):
    """The patient's text holds the stale held session's lock just as the next window opens: the
    sweep skips it (waiting could cross locks), and the next check-in closes it and goes to the new
    session (`operations.patient_session`)."""
    if not scratch_database_url.startswith("postgresql"):
        pytest.skip("row locks with SKIP LOCKED: PostgreSQL")
    from telehealth.db import database
    from telehealth.dosing.jobs import sweep_deadlines
    from telehealth.dosing.models import DoseSession
    from telehealth.jobs.runner import JobContext
    from tests.conftest import Builder

    with committed_app.app_context(), database(committed_app).new_session() as session:
        c = w.course(committed_app, session, Builder(session, committed_app.extensions["account_policy"]))
        held = w.book(session, c, w.in_hours(2))
        w.open_window(session, c, held, clock)
        w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
        later = w.book(session, c, held.scheduled_at + timedelta(hours=96))
        w.walk_to(session, c, later.scheduled_at - 30 * MINUTE - MINUTE, clock)
        assert w.state_of(session, held) == "on_hold"
        held_id, later_id, patient_id = held.id, later.id, c.patient.id
        session.commit()

    clock.set(later.scheduled_at - 30 * MINUTE)
    with committed_app.app_context():
        with database(committed_app).new_session() as texting:   # the patient's READY, mid-transaction
            texting.get(DoseSession, held_id, with_for_update=True)
            sweep_deadlines(JobContext(committed_app))            # the next window opens now
            texting.rollback()                                    # READY refused: "on hold"
        sweep_deadlines(JobContext(committed_app))                # and the sweep runs on
        with database(committed_app).new_session() as session:
            assert session.get(DoseSession, later_id).state.value == "open"
            patient = session.get(DoseSession, later_id).patient
            result = checkins.start(session, Actor.for_user(patient.user), c.settings, patient_id)
            session.commit()
            assert (result.dose_session.id, result.question) == (later_id, "blood_pressure")
            assert session.get(DoseSession, held_id).state.value == "cancelled"


def pages_to_prescriber(session, c) -> int:
    session.expire_all()
    return sum(1 for template in w.texts_to(session, c.prescriber.phone) if template == "page")


# --- a second hold, after a crisis hold was released -----------------------------------------

def test_a_new_hold_after_a_released_crisis_hold_pages_the_prescriber(c, session, opened):
    """SMS: the self-harm answer holds at once; the prescriber releases it, which acknowledges the
    hold's alert. The pulse of 130 given before it holds the session when the check-in is finished
    (SPEC §4 "pulse > 120: hold, moderate escalation"): the alert pages again."""
    w.here(session, c)
    w.ready(session, c)
    for words in ("128/82", "130", "N", "Y"):
        w.text(session, c, words)
    checkins.release_hold(session, c.doctor, c.settings, opened.id, note="Spoke with them: passive thought, safe.")
    session.commit()
    pages_before = pages_to_prescriber(session, c)
    w.ready(session, c)
    w.text(session, c, "6")
    assert w.text(session, c, "8").outcome is Outcome.HELD
    session.expire_all()
    [alert] = session.scalars(sa.select(Escalation).where(Escalation.session_id == opened.id)).all()
    assert alert.state is State.OPEN, "the new hold is left on an acknowledged alert: nothing pages"
    assert pages_to_prescriber(session, c) > pages_before


# --- an urgent post-dose answer by SMS -------------------------------------------------------

def test_chest_pain_by_sms_texts_the_sitter_once_as_on_the_web(c, session, clock):
    """Chest pain, the first question, is acted on at once and the sitter told to call 911; the last
    answer does not tell them again (the web, answering all at once, tells them once too)."""
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + c.settings.timings.post_dose_report_after, clock)
    before = len(w.texts_to(session, c.sitter.phone))
    w.ready(session, c)
    for words in ("Y", "N", "0", "3", "126/80"):
        w.text(session, c, words)
    sent = w.texts_to(session, c.sitter.phone)[before:]
    assert sent.count("sos_reply") == 1, sent


# --- the sitter's link -------------------------------------------------------------------------

def test_a_deactivated_sitter_s_link_does_not_record_an_arrival(client, session, c, opened):
    """A sitter the clinic deactivated is no longer recognised by SMS, nor by the link texted to them."""
    from telehealth.accounts.sitters import deactivate_sitter
    from tests.flows.test_sitter_link import link_texted
    from tests.flows.courses import post
    w.pre_dose(session, c)
    link = link_texted(session, c)
    deactivate_sitter(session, c.doctor, c.sitter.id)
    session.commit()
    post(client, link, f"{link}/here")
    assert w.reloaded(session, opened).sitter_arrived_at is None
    assert w.state_of(session, opened) != "cleared"


def test_sos_from_the_previous_session_s_link_is_raised_on_the_session_under_way(client, session, c, clock):
    """SOS is never refused, from an old link's page too: pressed during the next session's
    observation, it goes on the session under way (as an SOS by text does) and answers its check."""
    from tests.flows.courses import post
    from tests.flows.test_sitter_link import link_texted
    first = w.dosed_session(session, c, clock)
    old_link = link_texted(session, c)
    w.complete(session, c, clock, first)
    second = w.dosed_session(session, c, clock, at=w.reloaded(session, first).dosed_at + timedelta(hours=96))
    w.walk_to(session, c, second.dosed_at + c.settings.timings.observation_every, clock)   # the check is asked
    assert post(client, old_link, f"{old_link}/sos").status_code == 302
    w.walk_to(session, c, clock.now() + c.settings.timings.observation_answer + timedelta(minutes=1), clock)
    assert ("sos", "urgent") in w.escalations_of(session, second)
    assert ("missed_observation_check", "high") not in w.escalations_of(session, second)


# --- PostgreSQL: a booking's renumbering against the sweep opening a window ------------------

def test_a_booking_while_the_sweep_opens_a_window_of_the_same_patient_does_not_deadlock(committed_app,
                                                                                         database_url, clock):
    """The booking locks the patient, then (renumbering) every scheduled session of the
    prescription; the sweep has locked one of those sessions and its first text inserts a row that
    references the patient. The patient's lock is FOR NO KEY UPDATE, so the foreign-key check
    (FOR KEY SHARE) is not blocked, and neither transaction is lost to a deadlock."""
    import threading
    import time as real_time

    from telehealth.db import database
    from telehealth.dosing import deadlines, scheduling
    from telehealth.dosing.models import Deadline, DeadlineKind
    from telehealth.dosing.operations import lock
    from tests.integration.test_deadline_races import arrange

    if not database_url.startswith("postgresql"):
        pytest.skip("row locks and foreign-key share locks are PostgreSQL's")
    [(c, booked)] = arrange(committed_app, lambda session, c: w.book(session, c, w.in_hours(2)), patients=1)
    clock.set(booked.scheduled_at - c.settings.timings.window_opens_before)
    with database(committed_app).new_session() as session:
        window = session.scalar(sa.select(Deadline.id).where(Deadline.dose_session_id == booked.id,
                                                             Deadline.kind == DeadlineKind.WINDOW_OPENS))
    locked, errors = threading.Event(), []

    def sweep():
        try:
            with committed_app.app_context(), database(committed_app).new_session() as session:
                lock(session, booked.id)          # as lock_due does, before the handler runs
                locked.set()
                real_time.sleep(1.5)              # the booking is now waiting for this session
                deadlines.process(session, c.settings, window)
                session.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            locked.set()
            errors.append(("sweep", error))

    def book():
        try:
            locked.wait(10)
            with committed_app.app_context(), database(committed_app).new_session() as session:
                scheduling.schedule_session(session, c.doctor, c.settings, c.patient.id,
                                            scheduled_at=booked.scheduled_at + timedelta(hours=100))
                session.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(("booking", error))

    threads = [threading.Thread(target=sweep), threading.Thread(target=book)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], [(who, str(error).splitlines()[0]) for who, error in errors]


# --- SKIP with the sweep behind ----------------------------------------------------------------


# --- a TAKEN after the clearance lapsed ----------------------------------------------------------

def expired_clearance(session, c, clock):
    """A session cleared and left to expire: no TAKEN within 30 minutes (low alert, missed)."""
    cleared = w.cleared_session(session, c, clock)
    w.walk_to(session, c, cleared.cleared_at + c.settings.timings.dose_taken_within, clock)
    assert w.state_of(session, cleared) == "missed"
    return w.reloaded(session, cleared)


def dose_movements(session, c) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(InventoryMovement).where(
        InventoryMovement.patient_id == c.patient.id, InventoryMovement.kind == MovementKind.DOSE_TAKEN))


def test_a_late_taken_is_recorded_though_a_make_up_session_has_opened_since(c, session, clock):
    # The patient is told "if you have already taken it, text TAKEN now" (up to 2 hours). A missed
    # session holds no place, so the prescriber may book a make-up session soon after; once its
    # window opens, the late TAKEN must still be kept for the dose it reports, not refused as "not
    # cleared" for the make-up (the dose would leave the ledger and the spacing gate behind).
    expired = expired_clearance(session, c, clock)
    make_up = w.book(session, c, clock.now() + 40 * MINUTE)
    w.open_window(session, c, make_up, clock)
    assert w.state_of(session, make_up) == "open"

    result = w.take(session, c)

    assert (result.outcome, result.dose_session.id) == (Outcome.TAKEN_AFTER_EXPIRY, expired.id)
    assert w.reloaded(session, expired).dosed_at == clock.now()
    assert dose_movements(session, c) == 1


def test_a_late_taken_keeps_the_series_numbers_apart(c, session, clock):
    # After the missed session the prescriber books a make-up session: as the missed one holds no
    # place it is given dose 1. The late TAKEN then makes the missed session a dose again (it holds
    # a place, dose 1): the make-up, not yet started, must move on to dose 2.
    expired = expired_clearance(session, c, clock)
    make_up = w.book(session, c, clock.now() + timedelta(days=4))
    assert make_up.dose_number == 1

    assert w.take(session, c).outcome is Outcome.TAKEN_AFTER_EXPIRY

    session.expire_all()
    numbers = {s.id: s.dose_number for s in session.scalars(
        sa.select(DoseSession).where(DoseSession.patient_id == c.patient.id))}
    assert numbers == {expired.id: 1, make_up.id: 2}


def test_a_taken_just_after_the_prescriber_cancelled_a_cleared_session_is_recorded(c, session, clock):
    # A cleared patient may take it at any moment; the prescriber's cancel can cross it. The patient
    # who then texts TAKEN has taken it: as after an expired clearance, the lozenge must reach the
    # ledger and the record (and the prescriber be paged), not be answered "do not take anything".
    from telehealth.dosing import scheduling
    cleared = w.cleared_session(session, c, clock)
    scheduling.cancel_session(session, c.doctor, c.settings, cleared.id, reason="blood pressure history")
    session.commit()
    clock.set(clock.now() + 2 * MINUTE)

    result = w.take(session, c)

    assert result.dose_session.id == cleared.id
    assert dose_movements(session, c) == 1

