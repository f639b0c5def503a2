"""The demo's SMS simulator in a real browser, with the scheduler's jobs running in the web process."""
import pytest

from telehealth.db import get_session
from tests.browser.conftest import serving

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_server(tmp_path):
    """The embedded default as scripts/demo runs it: development profile, console SMS, jobs in-process."""
    with serving("development", tmp_path / "demo.sqlite3", SMS_DISPATCH_INTERVAL_SECONDS=0.2) as served:
        yield served


def test_texting_help_as_a_demo_patient_shows_the_reply_on_their_phone(page, demo_server):
    app, base_url = demo_server
    page.goto(f"{base_url}/dev/sms/")
    jordan = page.locator("#phone-12015550111")
    jordan.locator("input[name=body]").fill("help")
    jordan.locator("button[type=submit]").click()
    # Jordan's phone already holds the demo's texts about a package; the HELP reply joins them.
    reply = page.locator("#phone-12015550111 .thread li.theirs", has_text="Text READY to start a check-in")
    reply.wait_for()
    assert "Lakeside Clinic:" in reply.inner_text()
    # The scheduler started with the first request and runs in this process.
    assert app.extensions["in_process_scheduler"].running


def test_a_message_from_the_outbox_reaches_the_phone_through_the_in_process_dispatcher(page, demo_server):
    from telehealth.messaging import outbox
    from telehealth.messaging.templates import Sms

    app, base_url = demo_server
    page.goto(f"{base_url}/dev/sms/")  # the first request starts the in-process scheduler
    with app.app_context():
        outbox.enqueue(get_session(), to="+12015550121", sms=Sms("test", "Lakeside Clinic: please text HERE"))
        get_session().commit()
    message = page.locator("#phone-12015550121 .thread li.theirs", has_text="please text HERE")
    # Queued first, then marked sent by the dispatcher; the page polls and shows both.
    message.locator("small", has_text="sent").wait_for(timeout=15_000)
