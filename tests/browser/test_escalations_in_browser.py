"""A prescriber works an alert in a real browser, on a phone-sized screen: queue, alert,
acknowledge, resolve."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import User
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.demo import DEMO_PASSWORD
from telehealth.escalations.operations import EscalationSettings, raise_escalation
from telehealth.escalations.rules import Reason, Severity
from tests.browser.conftest import serving

pytestmark = pytest.mark.browser


def test_a_demo_prescriber_acknowledges_and_resolves_an_alert(page, tmp_path):
    with serving("testing", tmp_path / "x.sqlite3") as (app, base_url):
        with app.app_context():
            session = get_session()
            sam = session.scalar(sa.select(User).where(User.email == "sam.rivera@lakeside.example.org")).patient
            number = raise_escalation(session, Actor.system("test"), EscalationSettings.from_config(app.config),
                                      patient_id=sam.id, reason=Reason.MISSED_PRE_DOSE_REPORT,
                                      severity=Severity.HIGH).id
            session.commit()

        page.goto(f"{base_url}/")
        page.fill("input[name=email]", "raman@lakeside.example.org")
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/escalations")
        row = page.locator("tbody tr", has_text=f"Alert {number}")
        assert "missed check-in before session" in row.inner_text() and "Sam Rivera" in row.inner_text()
        assert row.locator(".badge.high").inner_text() == "high"

        row.locator(f"text=Alert {number}").click()
        page.wait_for_url(f"{base_url}/escalations/{number}")
        assert page.locator("#state").inner_text() == "open"
        assert "Dr. Priya Raman" in page.locator("tr.event-paged").first.inner_text()

        page.click("button:has-text('Acknowledge')")
        page.wait_for_url(f"{base_url}/escalations/{number}")
        assert f"Alert {number} acknowledged" in page.locator(".flash").inner_text()
        assert page.locator("#state").inner_text() == "acknowledged"
        assert page.locator("button:has-text('Acknowledge')").count() == 0

        page.select_option("select[name=outcome]", label="reached patient")
        page.fill("textarea[name=note]", "Called Sam; the check-in was sent late. All well.")
        page.click("button:has-text('Resolve')")
        page.wait_for_url(f"{base_url}/escalations/{number}")
        assert page.locator("#state").inner_text() == "resolved"
        main = page.locator("main").inner_text()
        assert "reached patient" in main and "Called Sam; the check-in was sent late. All well." in main
        assert page.locator("button:has-text('Resolve')").count() == 0

        page.goto(f"{base_url}/escalations")  # the queue no longer shows it
        assert page.locator("tbody tr", has_text=f"Alert {number}").count() == 0
