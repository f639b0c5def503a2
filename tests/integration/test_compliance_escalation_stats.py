"""Escalation statistics: counts by reason, severity and prescriber, and seconds to acknowledge
(median and 90th percentile as percentile_cont, mean, max), the same on SQLite and PostgreSQL."""
from datetime import date, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.compliance import escalation_stats
from telehealth.compliance.filters import ReportFilters
from telehealth.errors import NotAllowed
from telehealth.escalations import operations as escalations
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Outcome, Reason, Severity

ZONE = ZoneInfo("America/New_York")


@pytest.fixture
def world(session, make, app, clock):
    """Day 1 (Nov 20): Dana's patients: SOS acknowledged after 60 s, missed release after 180 s,
    adverse finding after 300 s (then resolved). Day 2: Bell's patient: SOS after 600 s, and a
    missed dose never acknowledged."""
    settings = EscalationSettings.from_config(app.config)
    dana, bell = make.user(Role.PRESCRIBER, name="Dana Prescriber"), make.user(Role.PRESCRIBER, name="Bell Prescriber")
    ash, blair, casey = make.patient(dana), make.patient(dana), make.patient(bell)

    def escalate(patient, prescriber, reason, severity, wait_seconds=None, resolve=False):
        found = escalations.raise_escalation(session, Actor.system("test"), settings, patient_id=patient.id,
                                             reason=reason, severity=severity)
        if wait_seconds is not None:
            clock.advance(timedelta(seconds=wait_seconds))
            escalations.acknowledge(session, Actor.for_user(prescriber), found.id, channel="web")
        if resolve:
            escalations.resolve(session, Actor.for_user(prescriber), found.id, outcome=Outcome.REACHED_PATIENT,
                                note="Called, all well.", channel="web")
        session.commit()
        return found

    escalate(ash, dana, Reason.SOS, Severity.URGENT, 60)
    escalate(blair, dana, Reason.MISSED_RELEASE, Severity.HIGH, 180)
    escalate(ash, dana, Reason.ADVERSE_FINDING, Severity.MODERATE, 300, resolve=True)
    clock.advance(timedelta(days=1))
    escalate(casey, bell, Reason.SOS, Severity.URGENT, 600)
    escalate(casey, bell, Reason.MISSED_DOSE_TAKEN, Severity.LOW)
    return SimpleNamespace(dana=dana, bell=bell, casey=casey)


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user(Role.COMPLIANCE))


def lines(session, officer, filters=ReportFilters()):
    found = escalation_stats.statistics(session, officer, filters, ZONE)
    return {(line.group, line.value): line.cells[2:] for group in found.values() for line in group}


def test_every_group_and_its_times_to_acknowledge(session, world, officer):
    assert lines(session, officer) == {
        # escalations, acknowledged, resolved, median, p90, mean, max (seconds)
        ("all", "all"): (5, 4, 1, 240.0, 510.0, 285.0, 600.0),
        ("severity", "urgent"): (2, 2, 0, 330.0, 546.0, 330.0, 600.0),
        ("severity", "high"): (1, 1, 0, 180.0, 180.0, 180.0, 180.0),
        ("severity", "moderate"): (1, 1, 1, 300.0, 300.0, 300.0, 300.0),
        ("severity", "low"): (1, 0, 0, None, None, None, None),
        ("reason", "sos"): (2, 2, 0, 330.0, 546.0, 330.0, 600.0),
        ("reason", "missed_release"): (1, 1, 0, 180.0, 180.0, 180.0, 180.0),
        ("reason", "adverse_finding"): (1, 1, 1, 300.0, 300.0, 300.0, 300.0),
        ("reason", "missed_dose_taken"): (1, 0, 0, None, None, None, None),
        ("prescriber", "Dana Prescriber"): (3, 3, 1, 180.0, 276.0, 180.0, 300.0),
        ("prescriber", "Bell Prescriber"): (2, 1, 0, 600.0, 600.0, 600.0, 600.0),
    }


def test_severities_come_most_severe_first(session, world, officer):
    found = escalation_stats.statistics(session, officer, ReportFilters(), ZONE)
    assert [line.value for line in found["severity"]] == ["urgent", "high", "moderate", "low"]


def test_the_date_filter_takes_the_day_they_opened(session, world, officer):
    found = lines(session, officer, ReportFilters(start_on=date(2026, 11, 21), end_on=date(2026, 11, 21)))
    assert found[("all", "all")] == (2, 1, 0, 600.0, 600.0, 600.0, 600.0)
    assert ("prescriber", "Dana Prescriber") not in found


def test_the_prescriber_filter_is_the_prescriber_of_record(session, world, officer):
    found = lines(session, officer, ReportFilters(prescriber_id=world.dana.id))
    assert found[("all", "all")] == (3, 3, 1, 180.0, 276.0, 180.0, 300.0)
    assert {key for key in found if key[0] == "prescriber"} == {("prescriber", "Dana Prescriber")}


def test_the_patient_filter(session, world, officer):
    found = lines(session, officer, ReportFilters(patient_id=world.casey.id))
    assert found[("all", "all")] == (2, 1, 0, 600.0, 600.0, 600.0, 600.0)


def test_nothing_in_range_is_one_empty_line(session, world, officer):
    assert lines(session, officer, ReportFilters(end_on=date(2026, 1, 1))) == {
        ("all", "all"): (0, 0, 0, None, None, None, None)}


def test_the_export_is_audited_as_an_export(session, world, officer):
    cells = list(escalation_stats.export(session, officer, ReportFilters(patient_id=world.casey.id), ZONE))
    assert cells[0] == ("all", "all", 2, 1, 0, 600.0, 600.0, 600.0, 600.0)
    session.flush()
    event, = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REPORT_EXPORTED.value))
    assert event.details == {"report": "escalation_statistics", "filters": {"patient_id": world.casey.id}}


def test_an_admin_is_refused(session, make):
    with pytest.raises(NotAllowed):
        escalation_stats.statistics(session, Actor.for_user(make.user(Role.ADMIN)), ReportFilters(), ZONE)


def raised_after_an_acknowledgement(session, make, app, clock):
    """A moderate finding acknowledged after 60 s; two hours later a more severe trigger raises it
    to urgent, and paging starts afresh."""
    settings = EscalationSettings.from_config(app.config)
    dana = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    ash = make.patient(dana)

    def trigger(severity):
        return escalations.raise_escalation(session, Actor.system("test"), settings, patient_id=ash.id,
                                            reason=Reason.ADVERSE_FINDING, severity=severity)
    found = trigger(Severity.MODERATE)
    clock.advance(timedelta(seconds=60))
    escalations.acknowledge(session, Actor.for_user(dana), found.id, channel="web")
    clock.advance(timedelta(hours=2))
    trigger(Severity.URGENT)
    session.commit()
    return dana, found


def test_an_escalation_raised_after_its_acknowledgement_is_not_acknowledged_until_acknowledged_again(
        session, make, app, clock, officer):
    raised_after_an_acknowledgement(session, make, app, clock)
    assert lines(session, officer)[("severity", "urgent")] == (1, 0, 0, None, None, None, None)


def test_the_time_to_acknowledge_a_raised_escalation_counts_from_the_raise(session, make, app, clock, officer):
    dana, found = raised_after_an_acknowledgement(session, make, app, clock)
    clock.advance(timedelta(seconds=90))
    escalations.acknowledge(session, Actor.for_user(dana), found.id, channel="web")
    session.commit()
    assert lines(session, officer)[("severity", "urgent")] == (1, 1, 0, 90.0, 90.0, 90.0, 90.0)
