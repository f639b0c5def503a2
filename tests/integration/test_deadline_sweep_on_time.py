"""The scheduler's deadline job wakes at the next due time instead of waiting for its next start,
and the sweep works in batches: several per transaction, a failing one handled apart, sessions
another transaction holds skipped rather than waited for. With the injected clock: the job's
sleep is handed a function that moves the clock, so nothing really waits."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.db import database
from telehealth.dosing import deadlines
from telehealth.dosing.jobs import sweep_deadlines, sweep_deadlines_on_time
from telehealth.dosing.models import Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message
from tests.conftest import Builder
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def sleeper(clock):
    """A stand-in for time.sleep that moves the frozen clock and remembers how long it was asked."""
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock.advance(seconds=seconds)
    return sleep, slept


def window_of(session, booked):
    return session.scalar(sa.select(Deadline).where(Deadline.dose_session_id == booked.id,
                                                    Deadline.kind == DeadlineKind.WINDOW_OPENS))


def test_the_job_sleeps_until_the_next_deadline_and_handles_it_as_it_falls_due(app, c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    due = window_of(session, booked).due_at
    clock.set(due - timedelta(milliseconds=400))   # due before the next start, 1 s from now
    sleep, slept = sleeper(clock)
    with app.app_context():
        done = sweep_deadlines_on_time(JobContext(app), sleep=sleep)
    assert done == {"met": 1}
    assert len(slept) == 1 and 0.4 <= slept[0] <= 0.41   # woke just after the due time, not at a tick
    assert w.state_of(session, booked) == "open"
    assert w.texts_to(session, c.patient.phone)[-1] == "window_open_patient"


def test_a_deadline_due_after_the_next_start_is_left_to_that_run(app, c, session, clock):
    booked = w.book(session, c, w.in_hours(2))
    clock.set(window_of(session, booked).due_at - timedelta(milliseconds=950))   # within the hand-over
    sleep, slept = sleeper(clock)
    with app.app_context():
        assert sweep_deadlines_on_time(JobContext(app), sleep=sleep) == {}
    assert slept == []
    assert w.state_of(session, booked) == "scheduled"


def test_the_sweep_takes_every_due_deadline_in_batches(app, session, make, clock):
    courses = [w.course(app, session, make) for _ in range(3)]
    at = w.in_hours(2)
    booked = [w.book(session, c, at) for c in courses]
    clock.set(at - 30 * MINUTE)
    with app.app_context():
        assert sweep_deadlines(JobContext(app), batch=2) == {"met": 3}
    assert [w.state_of(session, b) for b in booked] == ["open", "open", "open"]


def test_a_failing_deadline_is_handled_apart_and_the_rest_of_its_batch_goes_ahead(app, session, make, clock):
    broken_course, good_course = w.course(app, session, make), w.course(app, session, make)
    broken = w.cleared_session(session, broken_course, clock, at=w.in_hours(2))
    good = w.cleared_session(session, good_course, clock, at=broken.scheduled_at)
    # A damaged row: cleared with no clearance time, so its taken-reminder cannot be worded.
    session.execute(sa.update(DoseSession).where(DoseSession.id == broken.id).values(cleared_at=None))
    session.commit()
    clock.set(w.reloaded(session, good).cleared_at + 20 * MINUTE)
    sleep, slept = sleeper(clock)
    with app.app_context():
        done = sweep_deadlines_on_time(JobContext(app), sleep=sleep)
    assert done == {"met": 1, "failed": 1}
    assert slept == []   # the failed one, still due, is not retried in a loop
    states = {b.id: dict(session.execute(sa.select(Deadline.kind, Deadline.state).where(
        Deadline.dose_session_id == b.id, Deadline.kind == DeadlineKind.DOSE_TAKEN_REMINDER)).all())
        for b in (broken, good)}
    assert states[good.id] == {DeadlineKind.DOSE_TAKEN_REMINDER: DeadlineState.MET}
    assert states[broken.id] == {DeadlineKind.DOSE_TAKEN_REMINDER: DeadlineState.PENDING}  # for the next sweep
    assert w.texts_to(session, good_course.patient.phone)[-1] == "taken_soon"


def booked_and_committed(app, count: int, clock) -> list[int]:
    """`count` courses, each with a session booked for the same time, committed; the clock then
    stands just after their windows opened."""
    with database(app).new_session() as session:
        make = Builder(session, app.extensions["account_policy"])
        courses = [w.course(app, session, make) for _ in range(count)]
        at = w.in_hours(2)
        ids = [w.book(session, c, at).id for c in courses]
        session.commit()
    clock.set(at - 30 * MINUTE)
    return ids


def test_a_sweep_skips_a_session_another_transaction_holds_and_takes_it_once_free(committed_app, clock):
    if not database(committed_app).dialect == "postgresql":
        pytest.skip("row locks and SKIP LOCKED: PostgreSQL (SQLite serializes whole transactions)")
    held, free = booked_and_committed(committed_app, 2, clock)
    job = JobContext(committed_app)
    with database(committed_app).new_session() as holder:
        holder.execute(sa.select(DoseSession.id).where(DoseSession.id == held).with_for_update())  # a check-in, say
        with committed_app.app_context():
            assert sweep_deadlines(job) == {"met": 1}   # did not wait for the lock
        holder.rollback()
    with committed_app.app_context():
        assert sweep_deadlines(job) == {"met": 1}
        assert sweep_deadlines(job) == {}
    with database(committed_app).new_session() as session:
        assert {session.get(DoseSession, i).state.value for i in (held, free)} == {"open"}
        assert deadlines.due_deadline_ids(session) == []


def test_threads_of_one_sweep_share_the_due_deadlines_each_handled_once(committed_app, clock):
    if not database(committed_app).dialect == "postgresql":
        pytest.skip("threads of one sweep: PostgreSQL (SQLite serializes writers, so the sweep uses one)")
    ids = booked_and_committed(committed_app, 6, clock)
    with committed_app.app_context():
        assert sweep_deadlines(JobContext(committed_app), batch=1, workers=3) == {"met": 6}
    with database(committed_app).new_session() as session:
        assert {session.get(DoseSession, i).state.value for i in ids} == {"open"}
        reminders = session.scalar(sa.select(sa.func.count()).select_from(Message).where(
            Message.owner_type == "dose_session", Message.owner_id.in_(ids),
            Message.template == "window_open_patient"))
        assert reminders == 6
