"""The demo's compliance officer, Carlos Ortiz, in a real browser on a phone-sized screen: lands on
the compliance dashboard, verifies the audit chain, opens the reconciliation, and downloads the
dispensing log as CSV."""
import csv
import io

import pytest

from telehealth.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_the_compliance_officer_checks_the_chain_reconciles_and_exports(page, live_server):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "ortiz@lakeside.example.org")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{live_server}/compliance")
    assert "Audit chain" in page.inner_text("main")

    page.click("text=Verify the chain now")
    page.wait_for_url(f"{live_server}/compliance/audit-chain/verification")
    assert "Chain verified." in page.locator("[data-test=verification]").inner_text()

    page.goto(f"{live_server}/compliance")
    page.click("text=Reconciliation per prescription")
    table = page.locator("table.reconciliation tbody")
    jordan = table.locator("tr", has_text="Jordan Lee")
    # Jordan's first fill: 8 dispensed and 8 received, 1 taken in the first session, 7 expected on hand.
    def cell(label: str) -> str:
        return jordan.locator(f"td[data-label='{label}']").inner_text()
    assert (cell("Dispensed"), cell("Received"), cell("Taken"), cell("Expected on hand")) == ("8", "8", "1", "7")
    page.click("text=Per lot")
    assert page.locator("table.reconciliation tbody tr").count() >= 1

    page.goto(f"{live_server}/compliance/dispensing-log")
    assert "Jordan Lee" in page.inner_text("table")
    with page.expect_download() as downloading:
        page.click("text=Download all as CSV")
    download = downloading.value
    assert download.suggested_filename == "dispensing-log.csv"
    with open(download.path(), newline="") as exported:
        header, *lines = list(csv.reader(io.StringIO(exported.read())))
    assert header[:5] == ["dispensing", "dispensed_on", "dispensed_at_utc", "patient", "patient_address"]
    assert {line[header.index("patient")] for line in lines} >= {"Jordan Lee", "Sam Rivera"}
    assert all(line[header.index("prescriber_dea_number")] for line in lines)

    # Jordan's first dose: its monitoring record, then exported.
    page.goto(f"{live_server}/compliance")
    page.click("text=Dose records")
    page.locator("tbody tr", has_text="Jordan Lee").first.locator("a", has_text="Record").click()
    assert "The record is complete." in page.inner_text("main")
    with page.expect_download() as downloading:
        page.click("#export-csv")
    with open(downloading.value.path(), newline="") as exported:
        record = list(csv.reader(io.StringIO(exported.read())))
    assert ["blood pressure", "before the dose", "164/98"] in [line[:3] for line in record]

    # The audit log: the officer's own exports are in it, by name.
    page.goto(f"{live_server}/compliance")
    page.click("text=Audit log")
    page.select_option("select#action", "report.exported")
    page.click("button:has-text('Show')")
    log = page.locator("table.audit-log tbody").inner_text()
    assert "report.exported" in log and "Carlos Ortiz" in log
