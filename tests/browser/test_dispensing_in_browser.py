"""A package's whole journey in a real browser, on a phone-sized screen: the demo pharmacist fills
and ships Taylor Brooks's prescription, Taylor texts `RECEIVED 8` from the SMS simulator, and
Taylor's page shows 8 on hand."""
import pytest

from telehealth.demo import DEMO_PASSWORD
from tests.browser.conftest import serving

pytestmark = pytest.mark.browser

TAYLOR_PHONE = "#phone-12015550113"


@pytest.fixture
def demo_server(tmp_path):
    """As scripts/demo runs it: development profile, console SMS, jobs in the web process (so the
    simulator's phones receive what the outbox sends)."""
    with serving("development", tmp_path / "demo.sqlite3", SMS_DISPATCH_INTERVAL_SECONDS=0.2) as served:
        yield served


def log_in(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button:has-text('Log in')")


def test_a_package_is_dispensed_shipped_and_counted_by_text(page, demo_server):
    _app, base_url = demo_server
    log_in(page, base_url, "chen@lakeside.example.org")
    page.wait_for_url(f"{base_url}/pharmacy")
    row = page.locator("table.pharmacy tbody tr", has_text="Taylor Brooks")
    assert "free" in row.inner_text()  # nothing holds Taylor's package
    row.locator("a").click()
    page.wait_for_url(f"{base_url}/pharmacy/prescriptions/*")
    assert "Taylor Brooks" in page.locator("#record").inner_text()
    assert "7 Cedar Court, Eugene, OR 97401" in page.locator("#record").inner_text()

    page.fill("#quantity", "8")
    page.fill("#lot_number", "KL-2026-0415")
    page.fill("#lot_expiry", "2027-10-31")
    page.click("button:has-text('Dispense')")
    assert "Fill 1 dispensed: 8 from lot KL-2026-0415" in page.locator(".flash").inner_text()

    ship = page.locator("form", has=page.locator("button:has-text('Ship')"))
    ship.locator("input[name=tracking_number]").fill("9400 1000 0000 0000 0103")
    ship.locator("button:has-text('Ship')").click()
    assert "Shipped by USPS, tracking 9400 1000 0000 0000 0103" in page.locator(".flash").inner_text()
    assert "in transit" in page.locator("#shipments").inner_text()

    page.goto(f"{base_url}/dev/sms/")
    taylor = page.locator(TAYLOR_PHONE)
    taylor.locator(".thread li.theirs", has_text="on its way").wait_for(timeout=15_000)
    taylor.locator("input[name=body]").fill("RECEIVED 8")
    taylor.locator("button[type=submit]").click()
    page.locator(f"{TAYLOR_PHONE} .thread li.theirs", has_text="We recorded 8 items received").wait_for()

    page.click("button:has-text('Log out')")
    log_in(page, base_url, "taylor.brooks@lakeside.example.org")
    page.wait_for_url(f"{base_url}/me")
    assert page.locator("#on-hand").inner_text() == "8"
    assert "You counted 8" in page.locator("#packages").inner_text()
