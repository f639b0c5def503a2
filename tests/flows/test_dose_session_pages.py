"""SPEC §4, §9, §10 on the web: the patient's sessions page (what is due, the questionnaire due as a
form, the blood-pressure recheck, clearance, taken, skip, booking within the limits, in the
patient's own zone) and the prescriber's patient page (sessions, alerts, hold release and cancel,
charts of the course). Bad input is shown under its field and stores nothing; refusals are audited."""
import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from telehealth.audit.models import AuditAction
from telehealth.dispensing.inventory import on_hand
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dosing import checkins
from telehealth.dosing.models import Channel, CheckIn, DeadlineKind, DoseSession
from telehealth.dosing.rules import Questionnaire, SessionState
from tests.conftest import log_in
from tests.flows.courses import events, post, text_of
from tests.integration.dosing_world import (GOOD_POST_DOSE, GOOD_PRE_DOSE, book, course, here, in_hours,
                                            open_window, pre_dose, reloaded, walk_to)

PAGE = "/me/sessions"
HELD = {**GOOD_PRE_DOSE, "substances": "Y"}


@pytest.fixture
def c(app, session, make):
    return course(app, session, make)


@pytest.fixture
def opened(session, c, clock):
    """A session at 9:30 AM (Chicago) whose window opens now."""
    booked = book(session, c, in_hours(0.5))
    open_window(session, c, booked, clock)
    return booked


def patient_in(client, c):
    log_in(client, c.patient.user.email)
    return client


def prescriber_in(client, c):
    log_in(client, c.prescriber.email)
    return client


def answer_on_the_web(client, answers, which="pre-dose"):
    return post(client, PAGE, f"{PAGE}/{which}", **answers)


def shown(client, path=PAGE) -> str:
    return text_of(client.get(path))


def sessions(session) -> list[DoseSession]:
    session.expire_all()
    return list(session.scalars(sa.select(DoseSession).order_by(DoseSession.id)))


def answers_stored(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(CheckIn.kind).where(CheckIn.kind.like("%_dose.%")).order_by(CheckIn.id)))


# --- the patient's page ----------------------------------------------------------------------

def test_the_portal_shows_the_pre_dose_questionnaire_once_the_window_opens(client, c, opened):
    patient_in(client, c)
    html = client.get(PAGE).get_data(as_text=True)
    assert 'action="/me/sessions/pre-dose"' in html
    for name in ("blood_pressure", "pulse", "substances", "self_harm", "mood", "on_hand"):
        assert f'name="{name}"' in html
    assert 'type="radio"' in html and 'value="Y"' in html and 'value="N"' in html
    assert "Your session is Fri 20 Nov 9:30 AM CST. Your check-in is open" in text_of(client.get(PAGE))
    assert "Open your check-in" in shown(client, "/me")


def test_before_the_window_the_portal_says_when_check_in_opens(client, session, c):
    book(session, c, in_hours(3))
    patient_in(client, c)
    page = shown(client)
    assert "Your next session is Fri 20 Nov 12:00 PM CST." in page
    assert "Your check-in opens at Fri 20 Nov 11:30 AM CST." in page
    assert 'name="blood_pressure"' not in client.get(PAGE).get_data(as_text=True)


def test_questions_answered_by_text_are_not_asked_again(client, session, c, opened):
    checkins.start(session, c.me, c.settings, c.patient.id)
    checkins.answer(session, c.me, c.settings, c.patient.id, "128/82", channel=Channel.SMS)
    session.commit()
    patient_in(client, c)
    html = client.get(PAGE).get_data(as_text=True)
    assert 'name="blood_pressure"' not in html and 'name="pulse"' in html
    assert "Answers you already sent by text are kept" in html


def test_a_complete_report_with_the_sitter_there_clears_the_patient(client, session, c, opened):
    here(session, c)
    patient_in(client, c)
    response = answer_on_the_web(client, GOOD_PRE_DOSE)
    assert response.status_code == 302 and response.headers["Location"] == PAGE
    assert ("You are cleared. Take it now with your sitter there, and press 'I have taken it' by 9:30 AM."
            in shown(client))
    assert reloaded(session, opened).state is SessionState.CLEARED
    assert 'action="/me/sessions/taken"' in client.get(PAGE).get_data(as_text=True)


def test_a_complete_report_before_the_sitter_arrives_waits_for_them(client, session, c, opened):
    patient_in(client, c)
    answer_on_the_web(client, GOOD_PRE_DOSE)
    assert "You will be cleared as soon as your sitter texts HERE." in shown(client)
    assert reloaded(session, opened).state is SessionState.OPEN
    here(session, c)
    assert reloaded(session, opened).state is SessionState.CLEARED


def test_159_over_99_clears(client, session, c, opened):
    here(session, c)
    patient_in(client, c)
    answer_on_the_web(client, {**GOOD_PRE_DOSE, "blood_pressure": "159/99"})
    assert reloaded(session, opened).state is SessionState.CLEARED


def test_160_over_100_asks_to_rest_and_hides_the_recheck_until_the_rest_ends(client, session, c, opened):
    here(session, c)
    patient_in(client, c)
    answer_on_the_web(client, {**GOOD_PRE_DOSE, "blood_pressure": "160/100"})
    page = shown(client)
    assert "please rest quietly and measure it again at 9:05 AM" in page
    assert 'name="blood_pressure_recheck"' not in client.get(PAGE).get_data(as_text=True)
    assert reloaded(session, opened).state is SessionState.OPEN
    assert [d.kind for d in reloaded(session, opened).deadlines if d.kind is DeadlineKind.BP_RECHECK]


def test_after_the_rest_the_recheck_field_appears_and_decides(client, session, clock, c, opened):
    here(session, c)
    patient_in(client, c)
    answer_on_the_web(client, {**GOOD_PRE_DOSE, "blood_pressure": "160/100"})
    walk_to(session, c, in_hours(5 / 60), clock)
    html = client.get(PAGE).get_data(as_text=True)
    assert 'name="blood_pressure_recheck"' in html and 'name="pulse"' not in html
    answer_on_the_web(client, {"blood_pressure_recheck": "150/90"})
    assert reloaded(session, opened).state is SessionState.CLEARED


def test_the_recheck_before_five_minutes_is_refused_and_not_stored(client, session, clock, c, opened):
    patient_in(client, c)
    answer_on_the_web(client, {**GOOD_PRE_DOSE, "blood_pressure": "160/100"})
    clock.advance(minutes=4, seconds=59)
    response = answer_on_the_web(client, {"blood_pressure_recheck": "150/90"})
    assert response.status_code == 422
    assert "Rest until 9:05 AM, then measure again." in text_of(response)
    assert "pre_dose.blood_pressure_recheck" not in answers_stored(session)


def test_an_implausible_blood_pressure_is_a_field_error_and_nothing_is_stored(client, session, c, opened):
    patient_in(client, c)
    response = answer_on_the_web(client, {**GOOD_PRE_DOSE, "blood_pressure": "300/20"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Send your blood pressure as two numbers like 128/82 (top 60-260, bottom 30-160)." in html
    assert 'class="field invalid"' in html and 'value="300/20"' in html
    assert answers_stored(session) == [] and reloaded(session, opened).pre_dose_started_at is None


def test_answers_without_the_forms_csrf_token_are_refused_and_not_stored(client, session, c, opened):
    patient_in(client, c)
    response = client.post(f"{PAGE}/pre-dose", data=GOOD_PRE_DOSE)
    assert response.status_code == 400 and "The CSRF token is missing." in text_of(response)
    assert answers_stored(session) == []


def test_the_wrong_questionnaire_is_refused_and_the_one_due_is_shown(client, session, c, opened):
    patient_in(client, c)
    response = answer_on_the_web(client, GOOD_POST_DOSE, "post-dose")
    assert response.status_code == 409 and "That check-in is not the one due now." in text_of(response)
    assert 'action="/me/sessions/pre-dose"' in response.get_data(as_text=True)
    assert answers_stored(session) == []


def test_an_answer_of_the_other_questionnaire_is_refused_not_dropped(client, session, c, opened):
    here(session, c)
    patient_in(client, c)
    response = answer_on_the_web(client, {**GOOD_PRE_DOSE, "chest_pain": "Y"})
    assert response.status_code == 422 and "Not a question of this check-in." in text_of(response)
    assert answers_stored(session) == [] and reloaded(session, opened).state is SessionState.OPEN


def test_a_question_left_blank_is_a_field_error(client, session, c, opened):
    patient_in(client, c)
    response = answer_on_the_web(client, {k: v for k, v in GOOD_PRE_DOSE.items() if k != "self_harm"})
    assert response.status_code == 422 and "Answer this question." in text_of(response)
    assert answers_stored(session) == []


def test_thoughts_of_self_harm_hold_the_session_and_show_the_crisis_lines(client, session, c, opened):
    patient_in(client, c)
    answer_on_the_web(client, {**GOOD_PRE_DOSE, "self_harm": "Y"})
    page = shown(client)
    assert "your session is on hold" in page.lower()
    assert "call or text 988 now" in page and "call 911" in page
    assert reloaded(session, opened).state is SessionState.ON_HOLD


def test_taken_writes_the_ledger(client, session, c, opened):
    here(session, c)
    pre_dose(session, c)
    patient_in(client, c)
    response = post(client, PAGE, f"{PAGE}/taken")
    assert response.status_code == 302
    assert "Recorded as taken. Stay with your sitter and rest." in shown(client)
    assert on_hand(session, c.patient.id) == 7
    movement = session.scalar(sa.select(InventoryMovement).where(InventoryMovement.kind == MovementKind.DOSE_TAKEN))
    assert movement.dose_session_id == opened.id and movement.quantity == -1
    assert reloaded(session, opened).state is SessionState.DOSED


def test_taken_before_clearance_is_refused_with_what_to_do(client, session, c, opened):
    patient_in(client, c)
    response = post(client, PAGE, f"{PAGE}/taken")
    assert response.status_code == 409
    assert "Please do not take it yet, you are not cleared" in text_of(response)
    assert on_hand(session, c.patient.id) == 8


def test_the_post_dose_report_is_due_an_hour_after_the_dose(client, session, clock, c, opened):
    here(session, c)
    pre_dose(session, c)
    checkins.taken(session, c.me, c.settings, c.patient.id, channel=Channel.SMS)
    session.commit()
    patient_in(client, c)
    assert "Your after-session check-in opens at 10:00 AM." in shown(client)
    walk_to(session, c, in_hours(1), clock)
    assert 'action="/me/sessions/post-dose"' in client.get(PAGE).get_data(as_text=True)
    answer_on_the_web(client, GOOD_POST_DOSE, "post-dose")
    assert "they can end the session from 11:00 AM" in shown(client)
    assert reloaded(session, opened).state is SessionState.OBSERVING


def test_skip_cancels_the_next_session(client, session, c):
    booked = book(session, c, in_hours(3))
    patient_in(client, c)
    response = post(client, PAGE, f"{PAGE}/skip")
    assert response.status_code == 302
    assert "Your session of Fri 20 Nov 12:00 PM CST is cancelled." in shown(client)
    assert reloaded(session, booked).state is SessionState.CANCELLED


def test_a_patient_books_a_session_in_their_own_time_zone(client, session, c):
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day="2026-11-24", time="09:00")
    assert response.status_code == 302
    booked, = sessions(session)
    assert booked.scheduled_at == datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
    assert booked.scheduled_by_id == c.patient.user_id
    assert "Session 1 booked for Tue 24 Nov 9:00 AM CST." in shown(client)


@pytest.mark.parametrize("day, time, message", [
    ("2026-11-20", "08:30", "Choose a time in the future."),
    ("2026-11-24", "09:00", "Sessions must be at least 72 hours apart."),
    ("2026-11-29", "09:00", "At most 2 sessions in any 7 days."),
])
def test_booking_outside_the_limits_shows_the_field_error_and_books_nothing(client, session, c, day, time,
                                                                              message):
    book(session, c, datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))   # Mon 9:00 AM
    book(session, c, datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc))   # Thu 9:00 AM
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day=day, time=time)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and 'class="field invalid"' in html
    assert len(sessions(session)) == 2


def test_booking_without_an_active_sitter_is_refused(client, session, c):
    c.sitter.active = False
    session.commit()
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day="2026-11-24", time="09:00")
    assert response.status_code == 422
    assert "An active sitter with a confirmed phone is needed." in text_of(response)
    assert sessions(session) == []


def test_booking_without_a_date_asks_for_one(client, session, c):
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day="", time="09:00")
    assert response.status_code == 422 and "Choose a date." in text_of(response)
    assert sessions(session) == []


def test_nine_local_after_the_clocks_change_is_stored_an_hour_earlier_in_utc(client, session, c):
    prescriber_in(client, c)
    page = f"/patients/{c.patient.id}"
    post(client, page, f"{page}/sessions", day="2027-03-10", time="09:00")   # CST, UTC-6
    post(client, page, f"{page}/sessions", day="2027-03-15", time="09:00")   # CDT, UTC-5 (from 14 March)
    assert [s.scheduled_at.hour for s in sessions(session)] == [15, 14]
    assert "Mon 15 Mar 9:00 AM CDT" in shown(client, page)


def test_a_time_that_does_not_exist_when_the_clocks_jump_is_refused(client, session, c):
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day="2027-03-14", time="02:30")
    assert response.status_code == 422 and "02:30 does not exist on 2027-03-14" in text_of(response)
    assert sessions(session) == []


def test_a_date_at_the_end_of_the_calendar_is_a_field_error_not_a_server_error(client, session, c):
    patient_in(client, c)
    response = post(client, PAGE, PAGE, day="9999-12-31", time="23:00")   # 10000-01-01 in UTC
    assert response.status_code == 422 and "Choose a date within the prescription." in text_of(response)
    assert re.search(r'class="field invalid">\s*<label for="day-book"', response.get_data(as_text=True))
    assert sessions(session) == []


def test_the_history_lists_only_the_patients_own_sessions(client, app, session, make, c):
    book(session, c, in_hours(3))
    other = course(app, session, make)
    book(session, other, in_hours(30))
    patient_in(client, c)
    page = shown(client)
    assert "Fri 20 Nov 12:00 PM CST" in page and "Sat 21 Nov 3:00 PM CST" not in page
    assert client.get(f"/patients/{other.patient.id}").status_code == 403


# --- the prescriber's patient page -------------------------------------------------------------

def held(session, c, opened):
    here(session, c)
    pre_dose(session, c, HELD)
    return reloaded(session, opened)


def test_the_patient_page_lists_sessions_with_hold_findings_and_the_escalated_flag(client, session, c, opened):
    held(session, c, opened)
    prescriber_in(client, c)
    response = client.get(f"/patients/{c.patient.id}")
    row = text_of(response)
    assert "Dose sessions" in row and "Fri 20 Nov 9:30 AM CST" in row and "on hold" in row
    assert "alcohol, sedatives, opioids or other drugs in the last 24 h" in row
    assert "escalated" in row and "Release the hold on session 1" in row
    assert len(events(session, AuditAction.DOSE_SESSION_LIST_READ)) == 1


def test_a_prescriber_releases_a_hold_with_a_note(client, session, c, opened):
    held(session, c, opened)
    prescriber_in(client, c)
    page = f"/patients/{c.patient.id}"
    response = post(client, page, f"/sessions/{opened.id}/hold-release", note="Spoke with the patient: one beer.")
    assert response.status_code == 302
    assert "The patient is cleared once the sitter texts HERE again." in shown(client, page)
    released = reloaded(session, opened)
    assert released.state is SessionState.OPEN and released.hold_release_note == "Spoke with the patient: one beer."
    assert released.hold_released_by_id == c.prescriber.id


def test_a_hold_is_not_released_without_a_note(client, session, c, opened):
    held(session, c, opened)
    prescriber_in(client, c)
    page = f"/patients/{c.patient.id}"
    response = post(client, page, f"/sessions/{opened.id}/hold-release", note="  ")
    assert response.status_code == 422
    assert "Say why the session may go ahead" in text_of(response)
    assert reloaded(session, opened).state is SessionState.ON_HOLD


def test_a_prescriber_cancels_a_session(client, session, c, opened):
    prescriber_in(client, c)
    page = f"/patients/{c.patient.id}"
    response = post(client, page, f"/sessions/{opened.id}/cancel", reason="Travelling this week.")
    assert response.status_code == 302
    cancelled = reloaded(session, opened)
    assert cancelled.state is SessionState.CANCELLED and cancelled.end_reason == "Travelling this week."


def test_another_prescriber_gets_404_and_the_refusal_is_audited(client, session, make, c, opened):
    held(session, c, opened)
    stranger = make.user("prescriber")
    log_in(client, stranger.email)
    assert client.get(f"/patients/{c.patient.id}").status_code == 404
    response = post(client, "/account", f"/sessions/{opened.id}/hold-release", note="Not mine.")
    assert response.status_code == 404
    assert reloaded(session, opened).state is SessionState.ON_HOLD
    refusals = events(session, AuditAction.ACCESS_REFUSED)
    assert [r.actor_user_id for r in refusals] == [stranger.id, stranger.id]
    assert {r.patient_id for r in refusals} == {c.patient.id}


def test_the_charts_plot_the_course_as_inline_svg(client, session, clock, c, opened):
    here(session, c)
    pre_dose(session, c, {**GOOD_PRE_DOSE, "blood_pressure": "132/84", "mood": "5"})
    checkins.taken(session, c.me, c.settings, c.patient.id, channel=Channel.SMS)
    session.commit()
    walk_to(session, c, in_hours(1), clock)
    checkins.submit(session, c.me, c.settings, c.patient.id, Questionnaire.POST_DOSE, GOOD_POST_DOSE,
                    channel=Channel.WEB)
    session.commit()
    prescriber_in(client, c)
    html = client.get(f"/patients/{c.patient.id}").get_data(as_text=True)
    for key in ("blood-pressure", "mood", "dissociation"):
        assert f'<svg class="chart" id="chart-{key}"' in html and f'<title id="chart-{key}-title">' in html
    assert html.count('<circle class="point"') == 4 + 1 + 1   # two readings of BP, mood, dissociation
    assert "#1: systolic before 132" in html and "#1: diastolic after 80" in html
    assert "mood before: 1 readings from 5 to 5, latest 5 (#1)" in html
    assert "<script" not in html


def test_without_check_ins_there_are_no_charts_yet(client, session, c):
    book(session, c, in_hours(3))
    prescriber_in(client, c)
    page = shown(client, f"/patients/{c.patient.id}")
    assert "No check-ins yet: the charts appear after the first one." in page


def test_the_patient_reads_no_hold_forms(client, session, c, opened):
    held(session, c, opened)
    patient_in(client, c)
    response = post(client, PAGE, f"/sessions/{opened.id}/hold-release", note="I feel fine.")
    assert response.status_code == 403
    assert reloaded(session, opened).state is SessionState.ON_HOLD


def test_the_portal_offers_i_have_taken_it_while_a_late_taken_would_still_be_recorded(client, session, c, clock):
    # SPEC §1: patients check in by SMS or on the web. After the clearance expired the patient may
    # still report the dose (up to LATE_TAKEN_RECORDED_WITHIN_MINUTES; the text says "text TAKEN
    # now"), and POST /me/sessions/taken records it; the page must offer that button too.
    booked = book(session, c, in_hours(0.5))
    open_window(session, c, booked, clock)
    pre_dose(session, c)
    here(session, c)
    cleared = reloaded(session, booked)
    walk_to(session, c, cleared.cleared_at + c.settings.timings.dose_taken_within + c.settings.timings.dose_taken_within,
            clock)
    assert reloaded(session, booked).state.value == "missed"

    log_in(client, c.patient.user.email)
    html = client.get(PAGE).get_data(as_text=True)

    assert 'action="/me/sessions/taken"' in html
