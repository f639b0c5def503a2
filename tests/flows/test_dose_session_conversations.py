"""Dose-session courses walked as people do, across the signed SMS webhook, the patient's and
sitter's pages and the JSON API, with the real deadline sweep: replies name the day when it is not
today, never ask for what will be refused, pages carry what SPEC §5 asks, reserved and plain words
mid-course do what SPEC §4 and §6 say, and bad input to the API stores nothing."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.dosing import checkins
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason, Severity
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from tests.flows.api import token_for
from tests.flows.courses import text_of
from tests.flows.sms import reply_of, text_in
from tests.integration import dosing_world as world

LINK = re.compile(r"https?://[^/\s]+(/s/[A-Za-z0-9_-]+)")


@pytest.fixture
def c(app, session, make):
    """A patient in America/Chicago (it is 9:00 AM there), a confirmed sitter, 8 on hand."""
    return world.course(app, session, make)


def say(client, app, phone: str, body: str) -> str:
    return reply_of(text_in(client, app, phone, body))


def bodies_to(session, phone: str, template: str | None = None) -> list[str]:
    session.expire_all()
    query = sa.select(Message.body).where(Message.to_phone == phone)
    if template:
        query = query.where(Message.template == template)
    return list(session.scalars(query.order_by(Message.id)))


def escalations(session, c) -> list[Escalation]:
    session.expire_all()
    return list(session.scalars(sa.select(Escalation).where(Escalation.patient_id == c.patient.id)
                                .order_by(Escalation.id)))


def link_texted(session, c) -> str:
    body = bodies_to(session, c.sitter.phone, "window_open_sitter")[-1]
    return LINK.search(body).group(1)


# --- replies that name a time must name the day when it is not today (SPEC §6: local time) -------

def test_ready_a_day_early_names_the_day_the_check_in_opens(client, app, session, c, clock):
    # Tomorrow 9:00 AM; its check-in opens tomorrow 8:30 AM. "8:30 AM" alone reads as today, already past.
    world.book(session, c, clock.now() + timedelta(days=1))
    reply = say(client, app, c.patient.phone, "READY")
    assert "Sat 21 Nov" in reply, reply


def test_here_a_day_early_names_the_day_the_session_opens(client, app, session, c, clock):
    world.book(session, c, clock.now() + timedelta(days=1))
    reply = say(client, app, c.sitter.phone, "HERE")
    assert "Sat 21 Nov" in reply, reply


# --- a reply must not ask for what will then be refused ------------------------------------------

def test_ok_from_a_sitter_already_here_before_the_dose_does_not_ask_them_to_text_here(client, app, session, c,
                                                                                      clock):
    world.cleared_session(session, c, clock)   # the sitter's HERE is recorded; the patient is cleared
    reply = say(client, app, c.sitter.phone, "OK")
    again = say(client, app, c.sitter.phone, "HERE")
    assert "Text HERE when you arrive" not in reply, (reply, again)


def test_the_sitter_link_page_after_a_hold_release_gives_the_renewed_arrival_time(client, app, session, c, clock):
    booked = world.book(session, c, world.in_hours(2))          # 11:00 AM
    world.open_window(session, c, booked, clock)
    link = link_texted(session, c)
    world.here(session, c)
    world.pre_dose(session, c, {**world.GOOD_PRE_DOSE, "substances": "Y"})   # held
    world.walk_to(session, c, booked.scheduled_at + timedelta(minutes=20), clock)   # 11:20 AM
    checkins.release_hold(session, c.doctor, c.settings, booked.id, note="Reviewed with the patient by phone.")
    session.commit()
    assert "text HERE by 11:50 AM" in bodies_to(session, c.sitter.phone)[-1]
    page = text_of(client.get(link))
    assert "(by 11:50 AM)" in page, page


# --- what the prescriber is paged with (SPEC §5) ---------------------------------------------------

def test_a_taken_after_the_clearance_expired_is_paged_as_missing_or_late_not_as_not_taken(client, app, session, c,
                                                                                          clock):
    world.cleared_session(session, c, clock)
    world.walk_to(session, c, clock.now() + timedelta(minutes=35), clock)
    say(client, app, c.patient.phone, "TAKEN")
    [page] = bodies_to(session, c.prescriber.phone, "page")
    assert "HIGH" in page
    assert "not taken" not in page and "TAKEN missing or late after clearance" in page, page


def test_an_opt_out_during_a_session_is_paged_with_its_session_number(client, app, session, c, clock):
    booked = world.cleared_session(session, c, clock)
    say(client, app, c.patient.phone, "STOP")
    [alert] = escalations(session, c)
    assert alert.reason is Reason.OPTED_OUT_MID_COURSE
    assert (alert.session_id, alert.dose_number) == (booked.id, 1)
    assert "session 1" in bodies_to(session, c.prescriber.phone, "page")[-1]


# --- reserved words and plain words mid-course (SPEC §6, §4) --------------------------------------

def test_taken_from_a_patient_who_opted_out_is_still_recorded(client, app, session, c, clock):
    # Cleared with the sitter there, the patient texts STOP, then takes it and texts TAKEN. Dropping
    # the TAKEN leaves the dose off the ledger, and at the clearance's end the sitter is told
    # "nothing will be taken now" and leaves a dosed patient alone (SPEC §1).
    booked = world.cleared_session(session, c, clock)
    say(client, app, c.patient.phone, "STOP")
    say(client, app, c.patient.phone, "TAKEN")
    world.walk_to(session, c, clock.now() + timedelta(minutes=31), clock)
    assert "nothing will be taken now" not in bodies_to(session, c.sitter.phone)[-1]
    assert world.reloaded(session, booked).dosed_at is not None


@pytest.mark.parametrize("answer", ["NO", "not ok"])
def test_a_sitter_saying_no_to_the_observation_check_is_urgent_at_once(client, app, session, c, clock, answer):
    # "Do they respond to their name ...?" "No." SPEC §4: sitter says not OK is urgent, at once (not
    # the HELP text, then a high "no answer" 10 minutes later).
    dosed = world.dosed_session(session, c, clock)
    world.walk_to(session, c, dosed.dosed_at + timedelta(minutes=30), clock)
    reply = say(client, app, c.sitter.phone, answer)
    assert [e.severity for e in escalations(session, c)] == [Severity.URGENT], reply


def test_yes_to_a_yes_no_question_opts_in_and_asks_the_question_again(client, app, session, c, clock):
    # YES is reserved (opt-in) and not an answer; a patient who meant "yes, thoughts of harming
    # myself" must still be asked for Y or N, not only told they are subscribed.
    booked = world.book(session, c, world.in_hours(2))
    world.open_window(session, c, booked, clock)
    for body in ("READY", "128/82", "72", "N"):
        say(client, app, c.patient.phone, body)
    reply = say(client, app, c.patient.phone, "YES")
    assert templates.QUESTION_PROMPTS["self_harm"] in reply, reply


# --- the JSON API: bad input is 422 and stores nothing -------------------------------------------

def test_cancelling_by_api_with_a_blank_reason_is_422_and_cancels_nothing(client, session, c, clock):
    booked = world.book(session, c, world.in_hours(2))
    response = client.post(f"/api/v1/sessions/{booked.id}/cancel", headers=token_for(client, c.prescriber),
                           json={"reason": "   "})
    assert response.status_code == 422 and "reason" in response.json["errors"], response.json
    assert world.state_of(session, booked) == "scheduled"
