"""Booking within the prescription at its edges (spacing, the weekly maximum, the series, on hand,
the sitter, the prescription, the past), in the patient's zone across daylight-saving changes,
and a whole six-session course walked with the injected clock."""
from datetime import date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.dispensing import inventory
from telehealth.dispensing.models import InventoryMovement, MovementKind
from telehealth.dispensing.operations import release_blockers
from telehealth.dosing import scheduling
from telehealth.dosing.operations import Outcome
from telehealth.dosing.rules import SessionState
from telehealth.errors import NotAllowed, RuleViolation
from telehealth.prescriptions.models import PrescriptionStatus
from tests.integration import dosing_world as w

HOUR, DAY, SECOND = timedelta(hours=1), timedelta(days=1), timedelta(seconds=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def refused(session, c, at, actor=None) -> dict[str, list[str]]:
    with pytest.raises(RuleViolation) as raised:
        scheduling.schedule_session(session, actor or c.doctor, c.settings, c.patient.id, scheduled_at=at)
    session.rollback()
    return raised.value.errors


def booked_count(session, c) -> int:
    return len(scheduling.sessions_of(session, c.doctor, c.patient.id))


# --- the limits at their edges ------------------------------------------------------------------

def test_a_session_exactly_72_hours_after_another_may_be_booked(c, session):
    first = w.book(session, c, w.in_hours(24))
    assert w.book(session, c, first.scheduled_at + 72 * HOUR).dose_number == 2


def test_a_session_one_second_short_of_72_hours_is_refused_on_either_side(c, session):
    first = w.book(session, c, w.in_hours(100))
    assert refused(session, c, first.scheduled_at + 72 * HOUR - SECOND) == {
        "scheduled_at": ["Sessions must be at least 72 hours apart."]}
    assert "scheduled_at" in refused(session, c, first.scheduled_at - 72 * HOUR + SECOND)
    assert booked_count(session, c) == 1


def test_no_more_than_the_weekly_maximum_in_any_7_days(c, session):
    first = w.book(session, c, w.in_hours(24))
    w.book(session, c, first.scheduled_at + 3 * DAY)
    assert refused(session, c, first.scheduled_at + 7 * DAY - SECOND) == {
        "scheduled_at": ["At most 2 sessions in any 7 days."]}
    assert w.book(session, c, first.scheduled_at + 7 * DAY)


def test_the_weekly_maximum_looks_forward_too(c, session):
    later = w.book(session, c, w.in_hours(24) + 10 * DAY)
    w.book(session, c, later.scheduled_at - 4 * DAY)
    # Before both, within 7 days of the later one: a span holds three.
    assert "scheduled_at" in refused(session, c, later.scheduled_at - 7 * DAY + SECOND)


def test_the_series_length_is_a_limit_and_a_cancelled_session_frees_its_place(app, session, make):
    c = w.course(app, session, make, doses_in_series=2)
    first = w.book(session, c, w.in_hours(24))
    w.book(session, c, first.scheduled_at + 4 * DAY)
    assert refused(session, c, first.scheduled_at + 8 * DAY) == {
        "prescription": ["All 2 sessions of the series are booked or done."]}
    scheduling.cancel_session(session, c.doctor, c.settings, first.id, reason="rebooking")
    session.commit()
    assert w.book(session, c, first.scheduled_at + 8 * DAY).dose_number == 2


def test_on_hand_must_cover_every_session_already_booked(app, session, make):
    c = w.course(app, session, make, on_hand=2)
    first = w.book(session, c, w.in_hours(24))
    w.book(session, c, first.scheduled_at + 4 * DAY)
    assert refused(session, c, first.scheduled_at + 8 * DAY) == {
        "on_hand": ["Not enough on hand for this session and those already booked."]}


def test_nothing_on_hand_cannot_be_booked(app, session, make):
    c = w.course(app, session, make, on_hand=0)
    assert "on_hand" in refused(session, c, w.in_hours(24))


@pytest.mark.parametrize("change", ["unverified", "inactive"])
def test_an_active_sitter_with_a_confirmed_phone_is_needed(c, session, change):
    if change == "unverified":
        c.sitter.phone_verified_at = None
    else:
        c.sitter.active = False
    session.commit()
    assert refused(session, c, w.in_hours(24)) == {"sitter": ["An active sitter with a confirmed phone is needed."]}


def prescription_of(session, c):
    return session.scalar(sa.select(scheduling.Prescription).where(scheduling.Prescription.patient_id == c.patient.id))


def test_an_inactive_prescription_cannot_be_booked(c, session):
    prescription_of(session, c).status = PrescriptionStatus.SUSPENDED
    session.commit()
    assert refused(session, c, w.in_hours(24)) == {"prescription": ["The patient has no active prescription."]}


def test_a_session_on_or_after_the_prescription_s_expiry_is_refused(app, session, make, clock):
    c = w.course(app, session, make, expires_on=clock.now().date() + timedelta(days=10))
    assert "prescription" in refused(session, c, datetime.combine(clock.now().date() + timedelta(days=10),
                                                                   time(18), tzinfo=timezone.utc))
    assert w.book(session, c, datetime.combine(clock.now().date() + timedelta(days=9), time(18), tzinfo=timezone.utc))


def test_a_session_in_the_past_is_refused(c, session, clock):
    assert refused(session, c, clock.now()) == {"scheduled_at": ["Choose a time in the future."]}
    assert w.book(session, c, clock.now() + SECOND)


def test_the_patient_may_book_their_own_session(c, session):
    assert scheduling.schedule_session(session, c.me, c.settings, c.patient.id, scheduled_at=w.in_hours(24))


def test_nobody_else_books_for_a_patient(app, c, session, make):
    from telehealth.actor import Actor
    stranger = w.course(app, session, make)
    for actor in (stranger.me, stranger.doctor, Actor.for_user(make.user(Role.PHARMACIST))):
        with pytest.raises(NotAllowed):
            scheduling.schedule_session(session, actor, c.settings, c.patient.id, scheduled_at=w.in_hours(24))
        session.rollback()
    assert booked_count(session, c) == 0


# --- dose numbers: time order among the sessions that count ----------------------------------

def numbers(session, *booked) -> list[int]:
    return [w.reloaded(session, one).dose_number for one in booked]


def renumbered(session) -> list[tuple[int, dict]]:
    return [(int(e.object_id), e.details) for e in session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == AuditAction.DOSE_SESSION_RENUMBERED.value)
        .order_by(AuditEvent.id))]


def test_a_session_booked_before_those_already_booked_takes_its_number_in_time_order(c, session):
    later, latest = w.book(session, c, w.in_hours(24) + 9 * DAY), w.book(session, c, w.in_hours(24) + 13 * DAY)
    earliest = w.book(session, c, w.in_hours(24))
    assert numbers(session, earliest, later, latest) == [1, 2, 3]


@pytest.mark.parametrize("by", ["prescriber", "patient's SKIP"])
def test_cancelling_a_session_moves_the_later_ones_up_and_it_keeps_its_own(c, session, by):
    first, second, third = (w.book(session, c, w.in_hours(24) + days * DAY) for days in (0, 4, 8))
    if by == "prescriber":
        scheduling.cancel_session(session, c.doctor, c.settings, first.id, reason="travelling")
    else:
        scheduling.skip(session, c.me, c.settings, c.patient.id)
    session.commit()
    assert numbers(session, first, second, third) == [1, 1, 2]
    assert w.book(session, c, w.in_hours(24) + 12 * DAY).dose_number == 3


def test_only_a_number_that_changes_is_audited_with_what_it_was(c, session):
    later, latest = w.book(session, c, w.in_hours(24) + 9 * DAY), w.book(session, c, w.in_hours(24) + 13 * DAY)
    assert renumbered(session) == []                     # booked in time order: nothing moves
    w.book(session, c, w.in_hours(24))
    assert renumbered(session) == [(later.id, {"dose_number": 2, "was": 1}),
                                   (latest.id, {"dose_number": 3, "was": 2})]


def test_a_session_under_way_keeps_its_number_when_later_ones_are_numbered(c, session, clock):
    missed = w.book(session, c, w.in_hours(24))
    opened = w.book(session, c, w.in_hours(24) + 4 * DAY)
    w.walk_to(session, c, missed.scheduled_at + DAY, clock)          # nobody checked in: missed
    w.open_window(session, c, opened, clock)
    assert [w.state_of(session, missed), w.state_of(session, opened)] == ["missed", "open"]
    number_when_opened = w.reloaded(session, opened).dose_number
    later = w.book(session, c, opened.scheduled_at + 4 * DAY)
    assert numbers(session, opened, later) == [number_when_opened, number_when_opened + 1]


def test_a_dose_taken_in_a_session_closed_as_missed_still_counts_in_the_series(app, session, make, clock):
    # A session dosed and never released ends "missed" when the next window opens; its dose was taken.
    c = w.course(app, session, make, doses_in_series=2)
    dosed = w.dosed_session(session, c, clock)
    dosed.state = SessionState.MISSED
    session.commit()
    assert w.book(session, c, dosed.dosed_at + 4 * DAY).dose_number == 2
    assert refused(session, c, dosed.dosed_at + 8 * DAY) == {
        "prescription": ["All 2 sessions of the series are booked or done."]}


# --- not cleared, though every gate passed ------------------------------------------------------

def test_a_prescription_suspended_after_booking_is_not_cleared_and_the_patient_is_told_why(c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    w.pre_dose(session, c)
    prescription_of(session, c).status = PrescriptionStatus.SUSPENDED
    session.commit()
    w.here(session, c)
    found = w.reloaded(session, booked)
    assert (found.state.value, found.end_reason) == ("cancelled", "not cleared: your prescription is not active.")
    assert w.texts_to(session, c.patient.phone)[-1] == "not_cleared"


def test_a_dose_less_than_72_hours_after_the_last_one_is_not_cleared(c, session, clock):
    first = w.cleared_session(session, c, clock)
    clock.advance(minutes=10)
    w.take(session, c)   # taken 10 minutes after its clearance
    w.complete(session, c, clock, first)
    # The next session is booked 72 h after the first, and the patient checks in as promptly.
    second = w.book(session, c, first.scheduled_at + 72 * HOUR)
    w.open_window(session, c, second, clock)
    w.here(session, c)
    result = w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "on_hand": "7"})
    assert (result.outcome, result.problem) == (Outcome.NOT_CLEARED, "it is too soon after your last session.")
    assert w.state_of(session, second) == "cancelled"


def test_nothing_left_on_hand_at_check_in_is_not_cleared(c, session, clock, make):
    booked = w.book(session, c, w.in_hours(2))
    from telehealth.dispensing import inventory as ledger
    lots = ledger.on_hand_by_lot(session, c.patient.id)
    for lot, left in lots.items():
        ledger.add_movement(session, c.doctor, patient_id=c.patient.id, lot_number=lot,
                            kind=MovementKind.RETURNED, amount=left)
    session.commit()
    w.open_window(session, c, booked, clock)
    w.here(session, c)
    result = w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "on_hand": "0"})
    assert (result.outcome, result.problem) == (Outcome.NOT_CLEARED, "there is not enough on hand.")


# --- the patient's zone across daylight-saving changes -----------------------------------------

def test_a_local_time_that_does_not_exist_is_refused(c, session):
    with pytest.raises(RuleViolation) as raised:
        scheduling.local_time(c.patient, date(2027, 3, 14), time(2, 30))  # Chicago jumps from 2:00 to 3:00
    assert "does not exist" in raised.value.errors["scheduled_at"][0]


def test_nine_in_the_morning_either_side_of_spring_forward_is_stored_as_the_right_utc(c, session):
    before = w.book(session, c, scheduling.local_time(c.patient, date(2027, 3, 13), time(9)))
    after = w.book(session, c, scheduling.local_time(c.patient, date(2027, 3, 17), time(9)))
    session.expire_all()
    assert [s.scheduled_at for s in scheduling.sessions_of(session, c.doctor, c.patient.id)] == [
        datetime(2027, 3, 13, 15, tzinfo=timezone.utc), datetime(2027, 3, 17, 14, tzinfo=timezone.utc)]
    assert before.id != after.id


def test_spacing_counts_real_hours_across_a_change(c, session):
    w.book(session, c, scheduling.local_time(c.patient, date(2027, 3, 13), time(9)))
    # 09:00 three days later is only 71 real hours on: the clocks went forward.
    assert "scheduled_at" in refused(session, c, scheduling.local_time(c.patient, date(2027, 3, 16), time(9)))
    assert w.book(session, c, scheduling.local_time(c.patient, date(2027, 3, 16), time(10)))


def test_an_ambiguous_local_time_books_the_first_and_nine_either_side_of_fall_back_is_right(
        app, session, make, clock):
    clock.set(datetime(2027, 10, 20, 15, tzinfo=timezone.utc))
    c = w.course(app, session, make)
    ambiguous = w.book(session, c, scheduling.local_time(c.patient, date(2027, 11, 7), time(1, 30)))
    assert ambiguous.scheduled_at == datetime(2027, 11, 7, 6, 30, tzinfo=timezone.utc)  # 1:30 CDT, the first
    before = w.book(session, c, scheduling.local_time(c.patient, date(2027, 11, 3), time(9)))
    after = w.book(session, c, scheduling.local_time(c.patient, date(2027, 11, 10), time(9)))
    assert (before.scheduled_at, after.scheduled_at) == (datetime(2027, 11, 3, 14, tzinfo=timezone.utc),
                                                         datetime(2027, 11, 10, 15, tzinfo=timezone.utc))


def test_the_window_opens_30_minutes_before_the_local_time_on_the_day_of_a_change(c, session, clock):
    booked = w.book(session, c, scheduling.local_time(c.patient, date(2027, 3, 14), time(3, 15)))
    assert booked.scheduled_at == datetime(2027, 3, 14, 8, 15, tzinfo=timezone.utc)   # 3:15 CDT
    w.open_window(session, c, booked, clock)
    assert clock.now() == datetime(2027, 3, 14, 7, 45, tzinfo=timezone.utc)          # 1:45 CST, 30 real minutes
    assert w.state_of(session, booked) == "open"


# --- a whole course -------------------------------------------------------------------------------

OFFSETS = [0 * DAY, 3 * DAY, 7 * DAY, 10 * DAY, 14 * DAY, 17 * DAY]  # 72 h apart, 2 in any 7 days


def walk_one_session(session, c, clock, booked, number: int) -> None:
    w.open_window(session, c, booked, clock)
    assert w.state_of(session, booked) == "open"
    assert w.pre_dose(session, c, {**w.GOOD_PRE_DOSE, "on_hand": str(8 - number + 1)}).outcome is \
        Outcome.WAITING_FOR_SITTER
    w.walk_to(session, c, booked.scheduled_at, clock)
    w.here(session, c)                              # cleared at the scheduled time...
    assert w.take(session, c).outcome is Outcome.TAKEN   # ...and taken at once: 72 h after the last dose exactly
    dosed_at = clock.now()
    for minutes in (30, 60, 90):
        w.walk_to(session, c, dosed_at + timedelta(minutes=minutes), clock)
        assert w.ok(session, c).outcome is Outcome.CHECK_OK
        if minutes == 60:
            assert w.post_dose(session, c).outcome is Outcome.POST_DOSE_RECORDED
    w.walk_to(session, c, dosed_at + timedelta(minutes=120), clock)
    assert w.ok(session, c).outcome is Outcome.RELEASED


def test_a_six_session_course_walked_from_booking_to_its_complete_records(c, session, clock):
    start = scheduling.local_time(c.patient, clock.now().date() + timedelta(days=2), time(9))
    booked = [w.book(session, c, start + offset) for offset in OFFSETS]
    assert [b.dose_number for b in booked] == [1, 2, 3, 4, 5, 6]
    for number, one in enumerate(booked, start=1):
        walk_one_session(session, c, clock, one, number)
        assert w.state_of(session, one) == "completed"
        assert inventory.on_hand(session, c.patient.id) == 8 - number
    w.walk_to(session, c, clock.now() + DAY, clock)
    sessions = scheduling.sessions_of(session, c.doctor, c.patient.id)
    assert [s.state for s in sessions] == [SessionState.COMPLETED] * 6
    gaps = [later.dosed_at - earlier.dosed_at for earlier, later in zip(sessions, sessions[1:])]
    assert min(gaps) == 72 * HOUR
    assert inventory.on_hand(session, c.patient.id) == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(InventoryMovement).where(
        InventoryMovement.patient_id == c.patient.id, InventoryMovement.kind == MovementKind.DOSE_TAKEN)) == 6
    assert all(s.post_dose_completed_at and s.released_at for s in sessions)
    assert scheduling.incomplete_records(session, c.patient.id) == []
    assert release_blockers(session, c.patient.id) == []
    assert w.patient_escalations(session, c) == []
    assert w.texts_to(session, c.patient.phone).count("session_complete") == 6
