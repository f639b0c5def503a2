"""Dose records (SPEC §8): one complete session walked through the real verbs (a high first blood
pressure and its recheck, the sitter's checks, one unanswered, a post-dose report with findings,
an escalation acknowledged and resolved, the release), and its record read back field by field;
then the list's filters (in the patient's own days), paging and access."""
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.compliance import dose_records
from telehealth.compliance.dose_record_views import record_lines
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing import checkins
from telehealth.escalations import operations as escalations
from telehealth.escalations.models import Escalation
from telehealth.errors import NotAllowed, NotFound
from telehealth.prescriptions.models import Prescription
from tests.integration import dispensing_world as world
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def officer(make):
    return Actor.for_user(make.user("compliance"))


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def whole_session(session, c, clock):
    """Booked in 2 hours (11:00 AM in Chicago); a first reading of 165/105, 152/94 after resting;
    taken; OK at 30 and 60 minutes; a post-dose report at 60 with mild nausea and dissociation 8
    (a moderate escalation, acknowledged and resolved by the prescriber); the check at 90 left
    unanswered (a high escalation, left open); released at 120."""
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    w.here(session, c)
    w.ready(session, c)
    w.text(session, c, "165/105")
    for key in ("pulse", "substances", "self_harm", "mood", "on_hand"):
        w.text(session, c, w.GOOD_PRE_DOSE[key])
    clock.advance(minutes=5)
    w.text(session, c, "152/94")
    w.take(session, c)
    dosed_at = w.reloaded(session, booked).dosed_at
    w.walk_to(session, c, dosed_at + 30 * MINUTE, clock)
    w.ok(session, c)
    w.walk_to(session, c, dosed_at + 60 * MINUTE, clock)
    w.ok(session, c)
    w.post_dose(session, c, {**w.GOOD_POST_DOSE, "nausea": "1", "dissociation": "8", "blood_pressure": "138/86"})
    adverse = session.scalar(sa.select(Escalation).where(Escalation.session_id == booked.id))
    clock.advance(minutes=4)
    escalations.acknowledge(session, c.doctor, adverse.id, channel="web")
    clock.advance(minutes=6)
    escalations.resolve(session, c.doctor, adverse.id, outcome="reached_patient", note="Called; settling.",
                        channel="web")
    session.commit()
    w.walk_to(session, c, dosed_at + 120 * MINUTE, clock)
    w.ok(session, c, reading="131/84")
    return w.reloaded(session, booked)


@pytest.fixture
def done(session, c, clock):
    return whole_session(session, c, clock)


def test_the_record_names_patient_sitter_prescriber_and_the_patient_local_date(session, c, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert (r.dose_session.patient.full_name, r.dose_session.sitter.full_name) == (c.patient.full_name, "Sid Sitter")
    assert r.dose_session.prescription.prescriber.full_name == c.prescriber.full_name
    assert r.dose_session.prescription.prescriber_dea_number == world.DEA
    # Booked 17:00 UTC on 20 November; taken at 16:35 UTC, 10:35 AM in Chicago.
    assert done.dosed_at == datetime(2026, 11, 20, 16, 35, tzinfo=timezone.utc)
    assert (r.dose_date, r.local(done.dosed_at).strftime("%H:%M %Z")) == (date(2026, 11, 20), "10:35 CST")


def test_the_record_carries_the_dose_and_the_lot_it_came_from(session, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert [(lot.lot_number, lot.taken, lot.expiry) for lot in r.lots_taken] == [
        ("LOT-A1", 1, world.a_year_on())]
    assert (r.dose_session.prescription.lozenges_per_dose, r.dose_session.dose_number) == (1, 1)


def test_the_record_keeps_both_readings_before_the_dose_the_one_after_and_the_one_at_release(
        session, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert (r.bp_before, r.bp_recheck, r.bp_after, r.bp_at_release) == ("165/105", "152/94", "138/86", "131/84")
    assert r.bp_recheck_at - r.bp_before_at == 5 * MINUTE


def test_observation_runs_from_the_dose_to_the_release(session, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert r.observation_minutes == 120
    assert r.complete


def test_the_record_holds_every_answer_as_given(session, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert r.pre == {"blood_pressure": [165, 105], "pulse": 72, "substances": False, "self_harm": False,
                     "mood": 6, "on_hand": 8, "blood_pressure_recheck": [152, 94]}
    assert r.post == {"chest_pain": False, "self_harm": False, "nausea": 1, "dissociation": 8,
                      "blood_pressure": [138, 86]}


def test_the_sedation_checks_show_each_question_each_ok_the_missed_answer_and_the_release(session, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    minutes = [(int((check.at - done.dosed_at).total_seconds() // 60), check.what.split(":")[0])
               for check in r.sedation]
    assert minutes == [(30, "sitter asked"), (30, "sitter"), (60, "sitter asked"), (60, "sitter"),
                       (90, "sitter asked"), (100, "no answer from the sitter in time (escalated)"),
                       (120, "released by the sitter")]


def test_findings_and_escalations_come_with_their_outcomes(session, c, done, officer):
    r = dose_records.read_dose_record(session, officer, done.id)
    assert r.findings == ["mild nausea (1/3)", "dissociation or confusion 8/10"]
    adverse, missed = r.escalations
    assert (adverse.reason.value, adverse.severity.value, adverse.state.value) == \
        ("adverse_finding", "moderate", "resolved")
    assert adverse.opened_at == done.post_dose_completed_at
    assert (adverse.acknowledged_by.full_name, adverse.acknowledged_at - adverse.opened_at) == \
        (c.prescriber.full_name, 4 * MINUTE)
    assert (adverse.resolved_by.full_name, adverse.resolved_at - adverse.opened_at) == \
        (c.prescriber.full_name, 10 * MINUTE)
    assert (adverse.outcome.value, adverse.resolution_note) == ("reached_patient", "Called; settling.")
    assert (missed.reason.value, missed.severity.value, missed.state.value, missed.acknowledged_at) == \
        ("missed_observation_check", "high", "open", None)
    assert (r.unresolved, r.most_severe.value) == (1, "high")


def test_reading_a_record_is_audited_with_its_patient(session, c, done, officer):
    dose_records.read_dose_record(session, officer, done.id)
    event = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REPORT_READ.value)).one()
    assert (event.patient_id, event.object_type, event.object_id, event.actor_user_id) == \
        (c.patient.id, "dose_record", str(done.id), officer.user_id)


def test_the_list_row_shows_the_same_figures_as_the_record(session, done, officer):
    [row] = dose_records.list_dose_records(session, officer, ReportFilters(), Page()).rows
    assert (row.id, row.bp_before, row.bp_recheck, row.bp_after, row.observation_minutes, row.lots) == \
        (done.id, "165/105", "152/94", "138/86", 120, [("LOT-A1", 1)])
    line = dict(zip(dose_records.LIST_HEADER, dose_records.list_line(row)))
    assert {k: line[k] for k in ("dose_date", "lots", "pulse", "dissociation", "nausea", "escalations",
                                 "unresolved_escalations", "most_severe", "record_complete")} == \
        {"dose_date": date(2026, 11, 20), "lots": "LOT-A1 (1)", "pulse": 72, "dissociation": 8, "nausea": 1,
         "escalations": 2, "unresolved_escalations": 1, "most_severe": "high", "record_complete": True}


# --- which sessions have a record -----------------------------------------------------------------

def test_a_session_not_taken_has_no_dose_record(session, c, clock, officer):
    held = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, held, clock)
    w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
    assert w.state_of(session, held) == "on_hold"
    with pytest.raises(NotFound):
        dose_records.read_dose_record(session, officer, held.id)
    assert dose_records.list_dose_records(session, officer, ReportFilters(), Page()).rows == []


def test_a_dose_under_way_is_listed_as_incomplete(session, c, clock, officer):
    dosed = w.dosed_session(session, c, clock)
    [row] = dose_records.list_dose_records(session, officer, ReportFilters(), Page()).rows
    assert (row.id, row.complete, row.observation_minutes, row.bp_after) == (dosed.id, False, None, None)


def test_an_unknown_session_is_not_found(session, officer):
    with pytest.raises(NotFound):
        dose_records.read_dose_record(session, officer, 999_999)


@pytest.mark.parametrize("role", ["prescriber", "pharmacist", "admin", "patient"])
def test_only_compliance_staff_read_dose_records(session, make, done, role):
    actor = Actor.for_user(make.user(role))
    with pytest.raises(NotAllowed):
        dose_records.read_dose_record(session, actor, done.id)
    with pytest.raises(NotAllowed):
        dose_records.list_dose_records(session, actor, ReportFilters(), Page())


# --- filters and paging -------------------------------------------------------------------------

def other_patient(app, session, make, clock, *, timezone_name="America/Chicago", lot="LOT-A1"):
    """Another patient's course (with their own prescriber and lot) with one session taken."""
    other = w.course(app, session, make, on_hand=0, timezone_name=timezone_name)
    prescription = session.scalar(sa.select(Prescription).where(Prescription.patient_id == other.patient.id))
    settings = DispensingSettings.from_config(app.config)
    world.delivered_package(session, make.user("pharmacist"), settings, prescription, quantity=8, lot=lot)
    dispensing.confirm_receipt(session, other.me, settings, patient_id=other.patient.id, count=8, channel="web")
    session.commit()
    return other, w.dosed_session(session, other, clock)


def ids(session, officer, page=Page(), **filters) -> list[int]:
    return [row.id for row in dose_records.list_dose_records(session, officer, ReportFilters(**filters), page).rows]


def test_dates_are_the_patient_s_own_days(app, session, make, clock, officer):
    """16:35 UTC is 20 November in Chicago and already 21 November in Auckland."""
    start = clock.now()
    chicago, in_chicago = other_patient(app, session, make, clock)
    clock.set(start)   # the other books and doses at the same moments
    auckland, in_auckland = other_patient(app, session, make, clock, timezone_name="Pacific/Auckland")
    assert in_chicago.dosed_at == in_auckland.dosed_at
    nov20, nov21 = date(2026, 11, 20), date(2026, 11, 21)
    assert ids(session, officer, start_on=nov20, end_on=nov20) == [in_chicago.id]
    assert ids(session, officer, start_on=nov21, end_on=nov21) == [in_auckland.id]
    assert ids(session, officer, start_on=nov21) == [in_auckland.id]
    assert ids(session, officer, end_on=nov20) == [in_chicago.id]


def test_filters_by_prescriber_patient_and_lot(app, session, make, clock, officer, c):
    first = w.dosed_session(session, c, clock)
    other, second = other_patient(app, session, make, clock, lot="LOT-B2")
    assert ids(session, officer, prescriber_id=c.prescriber.id) == [first.id]
    assert ids(session, officer, prescriber_id=other.prescriber.id) == [second.id]
    assert ids(session, officer, patient_id=other.patient.id) == [second.id]
    assert ids(session, officer, lot_number="LOT-B2") == [second.id]
    assert ids(session, officer, lot_number="LOT-A1", patient_id=other.patient.id) == []


def test_pages_follow_the_session_id_and_the_last_says_so(app, session, make, clock, officer):
    taken = sorted(other_patient(app, session, make, clock)[1].id for _ in range(3))
    first = dose_records.list_dose_records(session, officer, ReportFilters(), Page(size=2))
    assert ([row.id for row in first.rows], first.next_after) == (taken[:2], taken[1])
    last = dose_records.list_dose_records(session, officer, ReportFilters(), Page(after=first.next_after, size=2))
    assert ([row.id for row in last.rows], last.next_after) == (taken[2:], None)


def test_a_list_read_is_audited_once_per_patient_shown_with_the_filters(app, session, make, clock, officer):
    one, two = other_patient(app, session, make, clock)[0], other_patient(app, session, make, clock)[0]
    dose_records.list_dose_records(session, officer, ReportFilters(start_on=date(2026, 11, 1)), Page())
    events = session.scalars(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.REPORT_READ.value)
                             .order_by(AuditEvent.patient_id)).all()
    assert [e.patient_id for e in events] == sorted([one.patient.id, two.patient.id])
    assert events[0].details["filters"] == {"start_on": "2026-11-01"}


def test_an_export_reads_in_batches_and_is_audited_before_a_line_is_read(app, session, make, clock, officer):
    taken = [other_patient(app, session, make, clock)[1].id for _ in range(3)]
    batches = dose_records.export_dose_records(session, officer, ReportFilters(), batch=2)
    exported = session.scalars(sa.select(AuditEvent.patient_id).where(
        AuditEvent.action == AuditAction.REPORT_EXPORTED.value)).all()
    assert len(exported) == 3
    assert [[row.id for row in rows] for rows in batches] == [taken[:2], taken[2:]]


def reads_for_a_page(session, officer) -> int:
    """SELECTs run to build a page (its audit events, one per patient shown, are writes)."""
    count = []
    connection = session.connection()

    def listener(_connection, _cursor, statement, *_):
        count.append(statement.lstrip().upper().startswith("SELECT"))
    sa.event.listen(connection, "before_cursor_execute", listener)
    try:
        dose_records.list_dose_records(session, officer, ReportFilters(start_on=date(2026, 11, 1)), Page())
    finally:
        sa.event.remove(connection, "before_cursor_execute", listener)
    return sum(count)


def test_a_page_costs_the_same_few_queries_whatever_its_length(app, session, make, clock, officer):
    other_patient(app, session, make, clock)
    one = reads_for_a_page(session, officer)
    session.rollback()
    for _ in range(3):
        other_patient(app, session, make, clock)
    # Distinct time zones, the sessions with their people, answers, lots, escalations, releases.
    assert reads_for_a_page(session, officer) == one == 6


def test_a_dose_taken_after_a_hold_was_released_carries_the_prescribers_note(session, c, clock, officer):
    held = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, held, clock)
    w.here(session, c)
    w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "substances": "Y"})
    checkins.release_hold(session, c.doctor, c.settings, held.id, note="One glass of wine at lunch; reviewed.")
    session.commit()
    w.here(session, c)   # a hold release needs the sitter's HERE again
    w.take(session, c)
    record = dose_records.read_dose_record(session, officer, held.id)
    assert ("adverse findings", "hold released by the prescriber", "One glass of wine at lunch; reviewed.",
            None) in record_lines(record)
