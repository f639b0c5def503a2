"""A TAKEN after the clearance lapsed, racing a prescriber's cancel of a later session on PostgreSQL:
both renumber the series, so both take the patient's lock first, and neither is lost to a deadlock."""
import threading
import time as real_time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Patient
from telehealth.actor import Actor
from telehealth.db import database
from telehealth.dosing import checkins, scheduling
from telehealth.dosing.models import Channel, DoseSession
from telehealth.dosing.operations import lock
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


def _waiting_on_a_lock(app, pids: set[int]) -> set[int]:
    with database(app).engine.connect() as connection:
        return {row[0] for row in connection.execute(sa.text(
            "select pid from pg_stat_activity where wait_event_type = 'Lock'")) if row[0] in pids}


def test_a_late_taken_and_the_prescriber_cancelling_a_later_session_do_not_deadlock(committed_app, database_url,
                                                                                    clock):
    """The late TAKEN renumbers the series, as the prescriber's cancel does; with the sweep holding
    the earlier scheduled session for a moment (lock_due), they would cross locks, but both take the
    patient's lock first: one waits for the other, and both go through."""
    from tests.integration.test_deadline_races import arrange

    if not database_url.startswith("postgresql"):
        pytest.skip("row locks are PostgreSQL's")

    def expired_with_two_booked(session, c):
        cleared = w.cleared_session(session, c, clock)
        w.walk_to(session, c, cleared.cleared_at + c.settings.timings.dose_taken_within, clock)
        assert w.state_of(session, cleared) == "missed"
        w.book(session, c, clock.now() + timedelta(days=4))    # S1 (lower id)
        w.book(session, c, clock.now() + timedelta(days=8))    # S2 (higher id)
        return w.reloaded(session, cleared)

    [(c, expired)] = arrange(committed_app, expired_with_two_booked, patients=1)
    with database(committed_app).new_session() as session:
        first, second = session.scalars(sa.select(DoseSession.id).where(
            DoseSession.patient_id == c.patient.id, DoseSession.id != expired.id).order_by(DoseSession.id)).all()
        patient_user = session.get(Patient, c.patient.id).user
        me = Actor.for_user(patient_user)
        doctor = Actor.for_user(session.get(Patient, c.patient.id).prescriber)
    clock.set(clock.now() + 5 * MINUTE)   # well within LATE_TAKEN_RECORDED_WITHIN_MINUTES

    errors, pids = [], {}
    sweep_holds, taken_started, release = threading.Event(), threading.Event(), threading.Event()

    def backend_pid(session, who):
        pids[who] = session.scalar(sa.text("select pg_backend_pid()"))

    def sweep():   # as lock_due does: the earlier scheduled session is held by a batch for a moment
        with committed_app.app_context(), database(committed_app).new_session() as session:
            lock(session, first)
            sweep_holds.set()
            release.wait(20)
            session.commit()

    def taken():
        try:
            sweep_holds.wait(10)
            with committed_app.app_context(), database(committed_app).new_session() as session:
                backend_pid(session, "taken")
                taken_started.set()
                checkins.taken(session, me, c.settings, c.patient.id, channel=Channel.SMS)
                session.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            taken_started.set()
            errors.append(("taken", error))

    def cancel():
        try:
            taken_started.wait(10)
            with committed_app.app_context(), database(committed_app).new_session() as session:
                backend_pid(session, "cancel")
                _wait_until(lambda: _waiting_on_a_lock(committed_app, {pids.get("taken")}))
                scheduling.cancel_session(session, doctor, c.settings, second, reason="travelling")
                session.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(("cancel", error))

    def releaser():
        _wait_until(lambda: len(_waiting_on_a_lock(committed_app, set(pids.values()))) == 2)
        release.set()

    threads = [threading.Thread(target=fn) for fn in (sweep, taken, cancel, releaser)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [], [(who, str(error).splitlines()[0]) for who, error in errors]


def _wait_until(condition, timeout: float = 10) -> None:
    end = real_time.monotonic() + timeout
    while real_time.monotonic() < end and not condition():
        real_time.sleep(0.05)
