"""SPEC §1: sitters check in by SMS (no account needed) or via a web link. The link comes with the
window's reminder; its page offers HERE, OK (with the blood pressure at release) and SOS, through
the same verbs as the texts, so whichever channel answers first wins. A link names one session,
shows no name, and a bad one is refused (audited) without saying whether it existed."""
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.audit.models import AuditAction
from telehealth.dosing.models import CheckIn, DoseSession
from telehealth.dosing.rules import SessionState
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason, Severity
from telehealth.messaging.models import Message
from tests.flows.courses import events, post, text_of
from tests.flows.sms import reply_of, text_in
from tests.integration import dosing_world as world

LINK = re.compile(r"https?://[^/\s]+(/s/[A-Za-z0-9_-]+)")


@pytest.fixture
def c(app, session, make):
    return world.course(app, session, make)


@pytest.fixture
def opened(session, c, clock):
    booked = world.book(session, c, world.in_hours(2))
    world.open_window(session, c, booked, clock)
    return booked


def link_texted(session, c) -> str:
    """The path of the link in the sitter's last window reminder."""
    session.expire_all()
    body = session.scalar(sa.select(Message.body).where(Message.to_phone == c.sitter.phone,
                                                        Message.template == "window_open_sitter")
                          .order_by(Message.id.desc()).limit(1))
    return LINK.search(body).group(1)


def sitter_check_ins(session, booked) -> list[tuple[str, str]]:
    session.expire_all()
    return [(kind, channel.value) for kind, channel in session.execute(
        sa.select(CheckIn.kind, CheckIn.channel).where(CheckIn.dose_session_id == booked.id, CheckIn.by == "sitter")
        .order_by(CheckIn.id))]


def escalations(session, c) -> list[tuple[Reason, Severity]]:
    session.expire_all()
    return [(e.reason, e.severity) for e in session.scalars(
        sa.select(Escalation).where(Escalation.patient_id == c.patient.id).order_by(Escalation.id))]


def test_the_window_reminder_carries_a_link_whose_page_asks_the_sitter_to_press_here(client, session, c, opened):
    page = text_of(client.get(link_texted(session, c)))
    assert "press 'I have arrived'" in page and "I have arrived and will stay" in page


def test_the_link_page_shows_no_name(client, session, c, opened):
    page = text_of(client.get(link_texted(session, c)))
    assert c.patient.user.full_name not in page and c.sitter.full_name not in page


def test_here_on_the_page_records_the_arrival_by_web_and_clears_a_patient_who_is_done(client, session, c, opened):
    world.pre_dose(session, c)
    link = link_texted(session, c)
    response = post(client, link, f"{link}/here")
    assert response.status_code == 302
    assert "your arrival is recorded" in text_of(client.get(link))
    assert sitter_check_ins(session, opened) == [("sitter_arrived", "web")]
    assert world.state_of(session, opened) == "cleared"
    assert world.texts_to(session, c.patient.phone)[-1] == "cleared"


def test_here_by_text_first_leaves_the_page_saying_the_arrival_is_recorded(client, app, session, c, opened):
    link = link_texted(session, c)
    reply_of(text_in(client, app, c.sitter.phone, "HERE"))
    page = text_of(client.get(link))
    assert "Your arrival is recorded" in page and "I have arrived and will stay" not in page


def test_a_second_here_from_the_page_is_refused_with_what_happened(client, app, session, c, opened):
    link = link_texted(session, c)
    form_page = link
    reply_of(text_in(client, app, c.sitter.phone, "HERE"))
    response = post(client, form_page, f"{link}/here")
    assert response.status_code == 409
    assert "Your arrival is already recorded" in text_of(response)
    assert sitter_check_ins(session, opened) == [("sitter_arrived", "sms")]


def test_ok_on_the_page_answers_the_observation_check(client, session, c, clock):
    dosed = world.dosed_session(session, c, clock)
    link = link_texted(session, c)
    world.walk_to(session, c, dosed.dosed_at + timedelta(minutes=30), clock)
    assert post(client, link, f"{link}/ok").status_code == 302
    world.walk_to(session, c, clock.now() + timedelta(minutes=11), clock)
    assert escalations(session, c) == []
    assert sitter_check_ins(session, dosed)[-1] == ("observation_ok", "web")


def test_ok_with_the_blood_pressure_at_release_releases_the_patient(client, session, c, clock):
    dosed = world.dosed_session(session, c, clock)
    link = link_texted(session, c)
    world.walk_to(session, c, dosed.dosed_at + timedelta(minutes=60), clock)
    world.post_dose(session, c)
    clock.set(dosed.dosed_at + c.settings.timings.release_after)
    assert "take their blood pressure and send it with OK" in text_of(client.get(link))
    response = post(client, link, f"{link}/ok", blood_pressure_at_release="128/82")
    assert response.status_code == 302
    assert world.state_of(session, dosed) == "completed"
    assert "The session of" in text_of(client.get(link)) and "has ended" in text_of(client.get(link))


def test_an_unreadable_reading_at_release_is_shown_under_its_box_and_nothing_is_stored(client, session, c, clock):
    dosed = world.dosed_session(session, c, clock)
    link = link_texted(session, c)
    clock.set(dosed.dosed_at + c.settings.timings.release_after)
    before = sitter_check_ins(session, dosed)
    response = post(client, link, f"{link}/ok", blood_pressure_at_release="300/20")
    assert response.status_code == 422 and "like OK 128/82" in text_of(response)
    assert sitter_check_ins(session, dosed) == before
    assert world.state_of(session, dosed) == "dosed"


def test_sos_on_the_page_is_an_urgent_escalation_on_the_session(client, session, c, clock):
    dosed = world.dosed_session(session, c, clock)
    link = link_texted(session, c)
    response = post(client, link, f"{link}/sos")
    assert response.status_code == 302
    assert "Call 911 now" in text_of(client.get(link))
    [alert] = session.scalars(sa.select(Escalation).where(Escalation.session_id == dosed.id)).all()
    assert (alert.reason, alert.severity) == (Reason.SOS, Severity.URGENT)


def test_a_link_that_matches_no_session_is_refused_and_audited(client, session, c, opened):
    response = client.get("/s/" + "A" * 22)
    assert response.status_code == 404
    [refusal] = events(session, AuditAction.ACCESS_REFUSED)
    assert refusal.object_type == "sitter_link"


def test_an_old_link_does_not_act_on_the_next_session(client, session, c, opened, clock):
    link = link_texted(session, c)
    world.walk_to(session, c, opened.scheduled_at + timedelta(minutes=30), clock)   # missed: nobody came
    later = world.book(session, c, opened.scheduled_at + timedelta(hours=96))
    world.walk_to(session, c, later.scheduled_at - timedelta(minutes=30), clock)
    assert "has ended" in text_of(client.get(link))
    assert post(client, link_texted(session, c), f"{link}/here").status_code == 409
    assert session.get(DoseSession, later.id).sitter_arrived_at is None
    assert world.reloaded(session, later).state is SessionState.OPEN
