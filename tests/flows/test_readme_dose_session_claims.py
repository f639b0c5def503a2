"""The README's "Dose sessions" section (and the SMS section it leans on), claim by claim, over the
signed SMS webhook: each test quotes the README words it holds the product to, for claims no other
test holds. A failing one is a sentence of the README the product does not do."""
import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.audit.models import AuditAction
from telehealth.dosing.models import CheckIn, DoseSession
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason, Severity
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from tests.flows.courses import events
from tests.flows.sms import reply_of, text_in
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def say(client, app, phone: str, body: str) -> str:
    return reply_of(text_in(client, app, phone, body))


def alerts(session, c) -> list[tuple[Reason, Severity]]:
    session.expire_all()
    return [(e.reason, e.severity) for e in session.scalars(
        sa.select(Escalation).where(Escalation.patient_id == c.patient.id).order_by(Escalation.id))]


def check_in_kinds(session, booked) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(CheckIn.kind).where(CheckIn.dose_session_id == booked.id)
                                .order_by(CheckIn.id)))


def in_observation(session, c, clock) -> DoseSession:
    """Dosed, and the first observation check ("do they respond to their name?") just asked."""
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    return dosed


# --- "From a number that opted out, only HELP is answered, but what happened is still acted on,
# silently: a patient's TAKEN or answer, a sitter's OK or NO after the dose" ------------------------

def test_status_from_a_patient_who_opted_out_is_not_answered(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    say(client, app, c.patient.phone, "STOP")
    assert say(client, app, c.patient.phone, "STATUS") == ""


def test_help_from_a_patient_who_opted_out_is_answered(client, app, session, c):
    say(client, app, c.patient.phone, "STOP")
    assert say(client, app, c.patient.phone, "HELP") == templates.help_text(templates_clinic(app), "patient").body


def test_an_answer_from_a_patient_who_opted_out_is_stored_without_a_reply(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    say(client, app, c.patient.phone, "READY")
    say(client, app, c.patient.phone, "STOP")
    assert say(client, app, c.patient.phone, "128/82") == ""
    assert "pre_dose.blood_pressure" in check_in_kinds(session, booked)


def test_an_ok_from_a_sitter_who_opted_out_answers_the_observation_check_silently(client, app, session, c, clock):
    dosed = in_observation(session, c, clock)
    say(client, app, c.sitter.phone, "STOP")
    assert say(client, app, c.sitter.phone, "OK") == ""
    w.walk_to(session, c, dosed.dosed_at + 45 * MINUTE, clock)   # past the 10 minutes to answer
    assert (Reason.MISSED_OBSERVATION_CHECK, Severity.HIGH) not in alerts(session, c)
    assert "observation_ok" in check_in_kinds(session, dosed)


def test_a_no_from_a_sitter_who_opted_out_after_the_dose_is_urgent_and_unanswered(client, app, session, c, clock):
    in_observation(session, c, clock)
    say(client, app, c.sitter.phone, "STOP")
    before = alerts(session, c)
    assert say(client, app, c.sitter.phone, "NO") == ""
    new = alerts(session, c)[len(before):]
    assert [severity for _, severity in new] == [Severity.URGENT], new


def test_sos_from_a_patient_who_opted_out_still_gets_the_911_reply(client, app, session, c):
    say(client, app, c.patient.phone, "STOP")
    assert "Call 911" in say(client, app, c.patient.phone, "SOS")


def test_each_stop_is_confirmed(client, app, session, c):
    say(client, app, c.patient.phone, "STOP")
    assert say(client, app, c.patient.phone, "STOP") == templates.opted_out(c.settings.clinic).body


# --- "`SOS` (alone or followed by words) from a patient or sitter is urgent" ------------------------

def test_sos_from_a_patient_who_opted_out_still_raises_the_urgent_alert(client, app, session, c):
    say(client, app, c.patient.phone, "STOP")
    say(client, app, c.patient.phone, "SOS please help")
    assert (Reason.SOS, Severity.URGENT) in alerts(session, c)


# --- "a patient or sitter opting out mid-course opens a moderate one" (Escalations) ------------------

def test_a_sitter_opting_out_mid_course_raises_a_moderate_escalation(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    say(client, app, c.sitter.phone, "STOP")
    assert alerts(session, c) == [(Reason.OPTED_OUT_MID_COURSE, Severity.MODERATE)]


# --- "`YES` and `START` always opt back in; if a question was open it is asked again in the same
# reply (with the crisis lines for the self-harm one, ...; a sitter's observation or release question
# too)" ----------------------------------------------------------------------------------------------

def to_self_harm_question(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    for body in ("READY", "128/82", "72", "N"):
        say(client, app, c.patient.phone, body)
    return booked


def test_start_mid_question_opts_in_and_asks_the_question_again(client, app, session, c, clock):
    to_self_harm_question(client, app, session, c, clock)
    reply = say(client, app, c.patient.phone, "START")
    assert reply.startswith(f"{templates_clinic(app)}: You are subscribed again"), reply
    assert templates.QUESTION_PROMPTS["self_harm"] in reply, reply


def test_yes_to_the_self_harm_question_brings_the_crisis_lines(client, app, session, c, clock):
    to_self_harm_question(client, app, session, c, clock)
    reply = say(client, app, c.patient.phone, "YES")
    assert templates.CRISIS_LINES in reply, reply


def test_yes_stores_no_answer_to_the_open_question(client, app, session, c, clock):
    booked = to_self_harm_question(client, app, session, c, clock)
    say(client, app, c.patient.phone, "YES")
    assert "pre_dose.self_harm" not in check_in_kinds(session, booked)
    assert w.state_of(session, booked) == "open"


def test_a_sitters_yes_at_the_release_time_asks_the_release_question_again(client, app, session, c, clock):
    dosed = w.dosed_session(session, c, clock)
    for minutes in (30, 60, 90):
        w.walk_to(session, c, dosed.dosed_at + minutes * MINUTE, clock)
        w.ok(session, c, reading=None)
        if minutes == 60:
            w.post_dose(session, c)
    w.walk_to(session, c, dosed.dosed_at + 120 * MINUTE, clock)
    reply = say(client, app, c.sitter.phone, "YES")
    assert templates.RELEASE_QUESTION in reply, reply
    assert w.state_of(session, dosed) == "observing"


# --- "from the sitter it also answers the observation check, and so does their `NO` (or "not ok")
# after the dose, urgent too" --------------------------------------------------------------------------

def test_a_sitters_not_ok_answers_the_observation_check_so_no_high_no_answer_follows(client, app, session, c,
                                                                                      clock):
    dosed = in_observation(session, c, clock)
    say(client, app, c.sitter.phone, "not ok")
    w.walk_to(session, c, dosed.dosed_at + 45 * MINUTE, clock)   # past the 10 minutes to answer
    assert alerts(session, c) == [(Reason.ADVERSE_FINDING, Severity.URGENT)]
    assert "observation_not_ok" in check_in_kinds(session, dosed)


# --- "Post-dose: chest pain or trouble breathing, self-harm, 180/110 are urgent, paged as soon as
# answered (the reply says call 911)" ------------------------------------------------------------------

def test_a_post_dose_blood_pressure_of_180_110_by_text_is_urgent_and_the_reply_says_911(client, app, session, c,
                                                                                         clock):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    w.ok(session, c, reading=None)
    w.walk_to(session, c, dosed.dosed_at + 60 * MINUTE, clock)
    w.ok(session, c, reading=None)
    for body in ("READY", "N", "N", "0", "3"):
        say(client, app, c.patient.phone, body)
    reply = say(client, app, c.patient.phone, "180/110")
    assert "911" in reply, reply
    assert (Reason.ADVERSE_FINDING, Severity.URGENT) in alerts(session, c)
    session.expire_all()
    pages = [m for m in session.scalars(sa.select(Message).where(
        Message.to_phone == c.prescriber.phone, Message.template == "page"))]
    assert pages, "the prescriber was not paged at once"


# --- "A session booked with a sitter the clinic has since deactivated goes ahead with the patient's
# sitter now (named on it when its window opens ...; audited)" ---------------------------------------

def test_a_replaced_sitter_is_audited_when_the_window_opens(client, app, session, c, clock):
    from tests.integration.test_dose_session_gates import replacement_sitter
    booked = w.book(session, c, w.in_hours(2))
    new = replacement_sitter(session, c)
    w.open_window(session, c, booked, clock)
    [event] = events(session, AuditAction.DOSE_SESSION_SITTER_REPLACED)
    assert (event.object_id, event.details["sitter_id"], event.details["was"]) == (str(booked.id), new.id, c.sitter.id)


# --- "The sitter's link ... (128 random bits; only their SHA-256 is stored, and a new window gets a
# new link)" --------------------------------------------------------------------------------------------

def test_only_the_sha256_of_the_sitters_link_is_stored(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    session.expire_all()
    body = session.scalar(sa.select(Message.body).where(
        Message.to_phone == c.sitter.phone, Message.template == "window_open_sitter"))
    token = re.search(r"/s/([A-Za-z0-9_-]+)", body).group(1)
    stored = w.reloaded(session, booked).sitter_link_hash
    assert stored == hashlib.sha256(token.encode()).hexdigest() and token not in stored
    assert len(token) >= 22   # 128 bits in URL-safe base64


def templates_clinic(app) -> str:
    return app.config["CLINIC_NAME"]


# --- "A sitter whose number opted out is not the one a patient is cleared on" ------------------------
# By text or on the link, and a STOP after the HERE too: no observation check could reach them.

def test_a_sitter_who_opted_out_does_not_clear_the_patient_through_the_link(client, app, session, c, clock):
    from tests.flows.courses import post
    from tests.flows.test_sitter_link import link_texted
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    link = link_texted(session, c)
    say(client, app, c.sitter.phone, "STOP")
    w.pre_dose(session, c)
    assert post(client, link, f"{link}/here").status_code == 409
    assert w.state_of(session, booked) == "open"


def test_a_sitter_who_opts_out_after_here_is_not_the_one_the_patient_is_cleared_on(client, app, session, c, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    say(client, app, c.sitter.phone, "HERE")
    say(client, app, c.sitter.phone, "STOP")
    w.pre_dose(session, c)
    assert w.state_of(session, booked) == "open"
    say(client, app, c.sitter.phone, "START")
    say(client, app, c.sitter.phone, "HERE")
    assert w.state_of(session, booked) == "cleared"
