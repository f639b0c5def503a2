"""The SMS simulator (development only): typed texts take the real signed webhook path."""
import re

import pytest
import sqlalchemy as sa

from telehealth.app import create_app
from telehealth.db import database, get_session
from telehealth.demo import seed
from telehealth.jobs.runner import JobContext
from telehealth.messaging import outbox
from telehealth.messaging.backends import ConsoleBackend
from telehealth.messaging.jobs import dispatch_outbox
from telehealth.messaging.templates import Sms

JORDAN = "+12015550111"  # a demo patient


@pytest.fixture
def dev_app(scratch_database_url):
    app = create_app("development", overrides={"DATABASE_URL": scratch_database_url, "JOBS_IN_PROCESS": False})
    with app.app_context():
        seed(get_session(), app.extensions["account_policy"], app.config)
        get_session().commit()
    yield app
    database(app).engine.dispose()


def send(client, phone: str, body: str):
    page = client.get("/dev/sms/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/dev/sms/send", data={"phone": phone, "body": body, "csrf_token": token})


def test_the_simulator_shows_a_phone_for_each_demo_party(dev_app):
    page = dev_app.test_client().get("/dev/sms/").get_data(as_text=True)
    for name in ("Jordan Lee", "Dr. Priya Raman", "Casey Lee"):
        assert name in page


def test_texting_help_as_a_demo_patient_shows_the_reply(dev_app):
    client = dev_app.test_client()
    assert send(client, JORDAN, "HELP").status_code == 302
    thread = client.get(f"/dev/sms/thread?phone={JORDAN.replace('+', '%2B')}").json
    sent, reply = thread[-2:]  # after the demo's texts about Jordan's package
    assert sent["from_me"] and sent["body"] == "HELP"
    assert not reply["from_me"] and "READY" in reply["body"]


def test_what_the_outbox_sends_appears_on_the_phone(dev_app):
    with dev_app.app_context():
        outbox.enqueue(get_session(), to=JORDAN, sms=Sms("test", "Lakeside Clinic: your window is open"))
        get_session().commit()
        dispatch_outbox(JobContext(dev_app), backend=ConsoleBackend())
    thread = dev_app.test_client().get(f"/dev/sms/thread?phone={JORDAN.replace('+', '%2B')}").json
    assert thread[-1]["body"] == "Lakeside Clinic: your window is open" and thread[-1]["status"] == "sent"


def test_the_simulator_needs_a_csrf_token(dev_app):
    response = dev_app.test_client().post("/dev/sms/send", data={"phone": JORDAN, "body": "STOP"})
    assert response.status_code == 400


def test_the_simulator_does_not_exist_outside_development(client):
    assert client.get("/dev/sms/").status_code == 404
    assert client.get("/dev/sms/thread?phone=%2B12015550111").status_code == 404


def test_a_prescriber_acknowledges_by_sms_in_the_simulator_and_sees_it_on_the_dashboard(dev_app):
    from telehealth.demo import DEMO_PASSWORD
    from tests.conftest import log_in

    client = dev_app.test_client()
    with dev_app.app_context():
        from telehealth.escalations.models import Escalation
        from telehealth.escalations.rules import State
        urgent = get_session().scalar(sa.select(Escalation).where(Escalation.state == State.OPEN))
    assert send(client, "+12015550101", f"ACK {urgent.id}").status_code == 302  # Dr. Raman's phone
    thread = client.get("/dev/sms/thread?phone=%2B12015550101").json
    assert f"Alert {urgent.id} acknowledged" in thread[-1]["body"]
    log_in(client, "raman@lakeside.example.org", DEMO_PASSWORD)
    page = client.get(f"/escalations/{urgent.id}").get_data(as_text=True)
    assert "acknowledged" in page.lower() and "Dr. Priya Raman" in page
