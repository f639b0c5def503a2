"""`flask seed-demo`: the demo clinic, printed as JSON for scripts, and idempotent."""
import json

import sqlalchemy as sa

from telehealth.demo import DEMO_PASSWORD
from telehealth.models import metadata
from tests.conftest import log_in


def snapshot(session) -> dict[str, list]:
    """Every row of every table: a second run must leave this exactly as it was."""
    session.expire_all()
    return {name: [tuple(row) for row in session.execute(sa.select(table).order_by(*table.primary_key.columns))]
            for name, table in metadata.tables.items()}


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result


def test_seed_demo_json_lists_every_account_phone_and_id(app, session):
    data = json.loads(run(app, "--json").stdout)
    roles = sorted(account["role"] for account in data["accounts"])
    assert roles == ["admin", "compliance", "patient", "patient", "patient", "pharmacist", "prescriber",
                     "prescriber"]
    assert len(data["sitters"]) == 3
    phones = [a["phone"] for a in data["accounts"] if a["phone"]] + [s["phone"] for s in data["sitters"]]
    # Every phone is a fictional 555-01xx number, and no two parties share one.
    assert all(p.startswith("+1201555") and 100 <= int(p[-4:]) <= 199 for p in phones)
    assert len(set(phones)) == len(phones)
    patients = [a for a in data["accounts"] if a["role"] == "patient"]
    assert all(a["patient_id"] and a["timezone"] for a in patients)


def test_one_prescriber_backs_up_the_other(app, session):
    data = json.loads(run(app, "--json").stdout)
    prescribers = {a["name"]: a["id"] for a in data["accounts"] if a["role"] == "prescriber"}
    backups = {a["backup_prescriber_id"] for a in data["accounts"] if a["role"] == "patient"}
    assert backups & set(prescribers.values())


def test_a_second_run_changes_nothing(app, session):
    first = json.loads(run(app, "--json").stdout)
    before = snapshot(session)
    second = json.loads(run(app, "--json").stdout)
    assert snapshot(session) == before
    assert first["created"] is True and second["created"] is False
    assert first["accounts"] == second["accounts"]


def test_the_demo_prescriber_can_log_in_with_the_printed_password(app, client, session):
    result = run(app)
    assert "demo-clinic-2026" in result.stdout
    from tests.conftest import log_in
    response = log_in(client, "raman@lakeside.example.org", "demo-clinic-2026")
    assert response.status_code == 302
    assert "Jordan Lee" in client.get("/patients").get_data(as_text=True)


def test_the_demo_has_an_open_urgent_and_an_acknowledged_escalation(app, session):
    data = json.loads(run(app, "--json").stdout)
    assert {(e["severity"], e["state"]) for e in data["escalations"]} == {("urgent", "open"),
                                                                         ("moderate", "acknowledged")}


def test_the_demo_has_an_active_prescription_for_each_patient(app, session):
    data = json.loads(run(app, "--json").stdout)
    patients = {a["patient_id"] for a in data["accounts"] if a["role"] == "patient"}
    assert {p["patient_id"] for p in data["prescriptions"] if p["status"] == "active"} == patients


def test_the_demo_has_one_package_counted_and_one_in_transit(app, session):
    data = json.loads(run(app, "--json").stdout)
    assert sorted((s["state"], s["on_hand"]) for s in data["shipments"]) == [("in transit", 0), ("received", 7)]


def test_the_demo_has_a_session_whose_window_is_open_now(app, session):
    data = json.loads(run(app, "--json").stdout)
    jordan = next(a for a in data["accounts"] if a["name"] == "Jordan Lee")
    done, booked = data["sessions"]
    assert booked["patient_id"] == jordan["patient_id"] and booked["state"] == "open"
    assert booked["dose_number"] == 2


def test_the_compliance_officer_opens_and_exports_the_demo_s_complete_dose_record(app, session, client):
    data = json.loads(run(app, "--json").stdout)
    done = data["sessions"][0]
    assert (done["state"], done["dose_number"]) == ("completed", 1)
    log_in(client, "ortiz@lakeside.example.org", DEMO_PASSWORD)
    page = client.get(f"/compliance/dose-records/{done['id']}")
    assert page.status_code == 200 and "The record is complete." in page.get_data(as_text=True)
    exported = client.get(f"/compliance/dose-records/{done['id']}.csv").get_data(as_text=True)
    assert "blood pressure,before the dose,164/98," in exported
    assert "blood pressure,\"before the dose, recheck\",148/92," in exported
    assert "observation,total minutes,120," in exported
