"""A person logs in with a real browser, on a phone-sized screen."""
import pytest

from telehealth.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, base_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base_url}/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_the_demo_prescriber_logs_in_and_sees_their_patients(page, live_server):
    log_in(page, live_server, "raman@lakeside.example.org")
    page.wait_for_url(f"{live_server}/escalations")  # the start page is the alerts queue
    page.click("nav >> text=Patients")
    page.wait_for_url(f"{live_server}/patients")
    rows = page.locator("tbody tr td:first-child").all_inner_texts()
    assert rows == ["Jordan Lee", "Sam Rivera"]  # Taylor Brooks is Dr. Bell's patient, not backed up by Raman
    page.click("text=Jordan Lee")
    assert page.locator("h1").inner_text() == "Jordan Lee"
    assert "Casey Lee" in page.locator("main").inner_text()


def test_a_wrong_password_shows_an_error_and_stays_on_the_login_page(page, live_server):
    log_in(page, live_server, "bell@lakeside.example.org", "not the password")
    assert "do not match" in page.locator(".error").first.inner_text()
    assert "/login" in page.url


def test_logging_out_returns_to_the_login_page(page, live_server):
    log_in(page, live_server, "ortiz@lakeside.example.org")
    page.wait_for_url(f"{live_server}/compliance")  # compliance staff start on their dashboard
    page.click("text=Log out")
    page.wait_for_url(f"{live_server}/login")
    page.goto(f"{live_server}/patients")
    assert "/login" in page.url
