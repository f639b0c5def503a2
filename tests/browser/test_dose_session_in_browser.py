"""A dose session in a real browser, on a phone-sized screen: demo patient Jordan Lee completes the
pre-dose report on the web with Casey (the sitter) there and is cleared; then Jordan's answers hold
a session and Dr. Raman acknowledges the alert it raised, and sees the hold on Jordan's page.

The live server shares this process's clock, frozen by the test fixtures: the session is arranged
with the real verbs, its window open "now", the sitter's HERE already recorded."""
import re

import pytest
import sqlalchemy as sa

from telehealth import clock
from telehealth.accounts.models import User
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.demo import DEMO_PASSWORD
from telehealth.dosing import checkins, deadlines, scheduling
from telehealth.dosing.models import Channel, DoseSession
from telehealth.dosing.operations import UPCOMING, DosingSettings
from telehealth.escalations.models import Escalation
from telehealth.messaging.models import Message
from tests.browser.conftest import serving

pytestmark = pytest.mark.browser

JORDAN = "jordan.lee@lakeside.example.org"
RAMAN = "raman@lakeside.example.org"
SITTER = Actor(user_id=None, role="sitter", label="sms from sitter")


def jordans_open_session_with_the_sitter_there(app) -> int:
    """Jordan's session whose window is open now (the demo seeds one; else it is booked here), with
    Casey's arrival recorded as if texted."""
    with app.app_context():
        session, settings = get_session(), DosingSettings.from_config(app.config)
        jordan = session.scalar(sa.select(User).where(User.email == JORDAN)).patient
        found = session.scalar(sa.select(DoseSession).where(DoseSession.patient_id == jordan.id,
                                                            DoseSession.state.in_(UPCOMING)))
        if found is None:
            found = scheduling.schedule_session(session, Actor.system("test"), settings, jordan.id,
                                                scheduled_at=clock.now() + settings.timings.window_opens_before / 2)
            session.flush()
        deadlines.handle_due(session, settings)
        assert found.state.value == "open"
        sitter_id = found.sitter_id
        checkins.sitter_here(session, SITTER, settings, sitter_id, channel=Channel.SMS)
        session.commit()
        return found.id


def log_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button:has-text('Log in')")


def answer_the_pre_dose_report(page, *, substances: str = "N") -> None:
    form = page.locator("form#check-in")
    form.locator("input[name=blood_pressure]").fill("128/82")
    form.locator("input[name=pulse]").fill("72")
    form.locator(f"input[name=substances][value={substances}]").check()
    form.locator("input[name=self_harm][value=N]").check()
    form.locator("input[name=mood]").fill("6")
    form.locator("input[name=on_hand]").fill("7")  # 8 received, 1 taken in the first session
    form.locator("button:has-text('Send my answers')").click()


def test_a_patient_completes_the_pre_dose_report_on_the_web_and_is_cleared(page, tmp_path):
    with serving("testing", tmp_path / "cleared.sqlite3") as (app, base_url):
        session_id = jordans_open_session_with_the_sitter_there(app)
        log_in(page, base_url, JORDAN)
        page.wait_for_url(f"{base_url}/me")
        assert "Your check-in is open" in page.locator("#session-due").inner_text()
        page.click("text=Open your check-in")
        page.wait_for_url(f"{base_url}/me/sessions")

        answer_the_pre_dose_report(page)
        page.wait_for_url(f"{base_url}/me/sessions")
        flash = page.locator(".flash").inner_text()
        assert "You are cleared. Take it now with your sitter there, and press 'I have taken it' by" in flash
        assert page.locator("form#check-in").count() == 0
        assert page.locator(f"#session-{session_id}").inner_text().endswith("cleared")

        page.click("button:has-text('I have taken it')")
        page.wait_for_url(f"{base_url}/me/sessions")
        assert "Recorded as taken" in page.locator(".flash").inner_text()
        assert "dosed" in page.locator(f"#session-{session_id}").inner_text()


def test_a_held_session_raises_an_alert_the_prescriber_acknowledges_on_the_web(page, tmp_path):
    with serving("testing", tmp_path / "held.sqlite3") as (app, base_url):
        session_id = jordans_open_session_with_the_sitter_there(app)
        log_in(page, base_url, JORDAN)
        page.goto(f"{base_url}/me/sessions")
        answer_the_pre_dose_report(page, substances="Y")
        page.wait_for_url(f"{base_url}/me/sessions")
        assert "Please do not take it today: your session is on hold." in page.locator(".flash").inner_text()
        assert "Your session is on hold. Please do not take it." in page.locator("#due").inner_text()
        page.click("button:has-text('Log out')")

        with app.app_context():
            alert = get_session().scalar(sa.select(Escalation).where(Escalation.session_id == session_id))
            number, patient_id = alert.id, alert.patient_id
        log_in(page, base_url, RAMAN)
        page.wait_for_url(f"{base_url}/escalations")
        row = page.locator("tbody tr", has_text=f"Alert {number}")
        assert "session on hold" in row.inner_text() and "Jordan Lee" in row.inner_text()
        row.locator(f"text=Alert {number}").click()
        page.wait_for_url(f"{base_url}/escalations/{number}")
        page.click("button:has-text('Acknowledge')")
        page.wait_for_url(f"{base_url}/escalations/{number}")
        assert f"Alert {number} acknowledged" in page.locator(".flash").inner_text()
        assert page.locator("#state").inner_text() == "acknowledged"

        page.goto(f"{base_url}/patients/{patient_id}#sessions")
        sessions = page.locator("#sessions")
        assert "on hold" in sessions.locator(f"#session-{session_id}").inner_text()
        assert "alcohol, sedatives, opioids or other drugs in the last 24 h" in sessions.inner_text()
        assert sessions.locator("summary", has_text="Release the hold").count() == 1
        assert page.locator("#chart-blood-pressure circle.point").count() == 6   # the first dose's before and after, this one's before


def test_the_sitter_checks_in_from_the_link_in_their_reminder(page, tmp_path):
    with serving("testing", tmp_path / "sitter.sqlite3") as (app, base_url):
        with app.app_context():
            session, settings = get_session(), DosingSettings.from_config(app.config)
            deadlines.handle_due(session, settings)   # the demo's session: its window opens, reminders go
            session.commit()
            reminder = session.scalar(sa.select(Message.body).where(Message.template == "window_open_sitter")
                                      .order_by(Message.id.desc()).limit(1))
        path = re.search(r"/s/[A-Za-z0-9_-]+", reminder).group(0)
        page.goto(f"{base_url}{path}")
        assert "press 'I have arrived'" in page.locator("#due").inner_text()
        page.click("button:has-text('I have arrived and will stay')")
        page.wait_for_url(f"{base_url}{path}")
        assert "your arrival is recorded" in page.locator(".flash").inner_text()
        assert "Your arrival is recorded" in page.locator("#due").inner_text()
        assert page.locator("button:has-text('I have arrived')").count() == 0
