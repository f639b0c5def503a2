"""The deadline sweep under concurrency, on a real committed database: two sweeps at once (threads
on separate connections) and two real scheduler processes settle each due deadline once, with one
escalation and one page; a check-in racing its deadline is decided one way, never both; and a
scheduler that was down catches up on start.

The real processes use the real clock, so their rows are arranged with the test's clock set back:
the deadlines are committed with due times in the real past."""
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.db import database
from telehealth.dosing.jobs import sweep_deadlines
from telehealth.dosing.models import Deadline, DeadlineState, DoseSession
from telehealth.errors import Conflict
from telehealth.escalations.models import Escalation, EscalationEvent, EventKind
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message
from tests.conftest import Builder
from tests.integration import dosing_world as w

ROOT = Path(__file__).resolve().parents[2]
MINUTE = timedelta(minutes=1)
PATIENTS = 6
_numbers = itertools.count(1)   # one run of invented names and phones across arrangements


def on_postgres(url: str) -> bool:
    return url.startswith("postgresql")


def arrange(app, sessions_per: callable, patients: int = PATIENTS):  # noqa: ANN001
    """`patients` courses on the committed database, each given a session by `sessions_per`."""
    made = []
    with database(app).new_session() as session:
        builder = Builder(session, app.extensions["account_policy"])
        builder._numbers = _numbers
        for _ in range(patients):
            c = w.course(app, session, builder)
            made.append((c, sessions_per(session, c)))
        session.commit()
        for c, booked in made:   # loaded now, to be read after this session closes
            for thing in (booked, c.patient, c.sitter):
                session.refresh(thing)
        session.expunge_all()
    return made


def all_at_once(*work):
    start = threading.Barrier(len(work))
    errors, results = [], []

    def run(fn):
        try:
            start.wait()
            results.append(fn())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def job(app):
    def run():
        with app.app_context():
            return sweep_deadlines(JobContext(app))
    return run


def facts(app, session_ids):
    """Per session: its escalations (reason, pages), texts by template, deadline audits."""
    with database(app).new_session() as session:
        escalations = {sid: [(e.reason.value, session.scalar(sa.select(sa.func.count()).select_from(EscalationEvent)
                                                             .where(EscalationEvent.escalation_id == e.id,
                                                                    EscalationEvent.kind == EventKind.PAGED)))
                             for e in session.scalars(sa.select(Escalation).where(Escalation.session_id == sid)
                                                      .order_by(Escalation.id))]
                       for sid in session_ids}
        texts = {sid: sorted(session.scalars(sa.select(Message.template).where(
            Message.owner_type == "dose_session", Message.owner_id == sid))) for sid in session_ids}
        missed_audits = {sid: session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == AuditAction.DEADLINE_MISSED.value, AuditEvent.object_id == str(sid),
            AuditEvent.object_type == "dose_session")) for sid in session_ids}
        pending_due = session.scalar(sa.select(sa.func.count()).select_from(Deadline).where(
            Deadline.state == DeadlineState.PENDING, Deadline.due_at <= datetime.now(timezone.utc),
            Deadline.dose_session_id.in_(session_ids)))
        states = {sid: session.get(DoseSession, sid).state.value for sid in session_ids}
    return escalations, texts, missed_audits, pending_due, states


# --- two sweeps at once ------------------------------------------------------------------------

def test_two_sweeps_at_once_escalate_each_missed_session_once_with_one_page(committed_app, clock):
    made = arrange(committed_app, lambda session, c: w.book(session, c, w.in_hours(2)))
    ids = [booked.id for _, booked in made]
    clock.set(made[-1][1].scheduled_at + 30 * MINUTE)   # every window, arrival and report is due
    tallies = all_at_once(job(committed_app), job(committed_app))
    escalations, texts, missed_audits, _, states = facts(committed_app, ids)
    assert escalations == {sid: [("missed_sitter_arrival", 1)] for sid in ids}
    assert states == {sid: "missed" for sid in ids}
    assert texts == {sid: ["session_missed", "session_missed_sitter"] for sid in ids}  # window reminders stale
    assert missed_audits == {sid: 1 for sid in ids}
    together = {}
    for tally in tallies:
        for key, value in tally.items():
            together[key] = together.get(key, 0) + value
    assert together.get("failed", 0) == 0
    assert together["missed"] == PATIENTS and together["cancelled"] == PATIENTS  # each settled by one sweep
    assert all_at_once(job(committed_app), job(committed_app)) == [{}, {}]


def test_two_sweeps_at_once_during_observation_escalate_each_missed_deadline_once(committed_app, clock):
    start = clock.now()

    def dosed(session, c):
        clock.set(start)   # every patient's session at the same times
        return w.dosed_session(session, c, clock)
    made = arrange(committed_app, dosed)
    ids = [booked.id for _, booked in made]
    clock.set(max(b.dosed_at for _, b in made) + 100 * MINUTE)
    all_at_once(job(committed_app), job(committed_app))
    clock.set(max(b.dosed_at for _, b in made) + 150 * MINUTE)
    all_at_once(job(committed_app), job(committed_app))
    escalations, texts, missed_audits, _, _ = facts(committed_app, ids)
    assert escalations == {sid: [("missed_post_dose_report", 1), ("missed_observation_check", 1),
                                 ("missed_release", 1)] for sid in ids}
    assert missed_audits == {sid: 3 for sid in ids}
    for sid in ids:
        assert texts[sid].count("observation_check") == 1   # the overdue check asked once, by one sweep
        assert "post_dose_due" not in texts[sid] and "release_due" not in texts[sid]   # stale, not sent


def test_a_check_in_racing_its_deadline_is_decided_one_way(committed_app, scratch_database_url, clock):
    """HERE at the very moment the arrival deadline is swept: cleared with no escalation, or missed
    with HERE refused; never cleared and escalated, never missed with the arrival recorded."""
    start = clock.now()

    def opened(session, c):
        clock.set(start)
        booked = w.book(session, c, w.in_hours(2))
        w.open_window(session, c, booked, clock)
        w.pre_dose(session, c)
        return booked
    made = arrange(committed_app, opened)
    clock.set(max(b.scheduled_at for _, b in made) + 30 * MINUTE)
    outcomes = []

    def here(c):
        def run():
            with committed_app.app_context(), JobContext(committed_app).transaction() as session:
                try:
                    w.checkins.sitter_here(session, w.SITTER_ACTOR, c.settings, c.sitter.id,
                                           channel=w.Channel.SMS)
                    outcomes.append("here")
                except Conflict:
                    outcomes.append("refused")
        return run

    for c, _ in made:
        all_at_once(here(c), job(committed_app))
    escalations, _, _, _, states = facts(committed_app, [b.id for _, b in made])
    for c, booked in made:
        if states[booked.id] == "cleared":
            assert escalations[booked.id] == []
        else:
            assert (states[booked.id], escalations[booked.id]) == ("missed", [("missed_sitter_arrival", 1)])
            with database(committed_app).new_session() as session:
                assert session.get(DoseSession, booked.id).sitter_arrived_at is None
    assert len(outcomes) == PATIENTS


# --- two real scheduler processes, after an outage -----------------------------------------------

def run_schedulers(url: str, tmp_path: Path, until, count: int = 2, timeout: float = 60) -> str:  # noqa: ANN001
    env = {**os.environ, "TELEHEALTH_PROFILE": "testing", "DATABASE_URL": url, "DEADLINE_SWEEP_SECONDS": "0.2",
           "SMS_DISPATCH_INTERVAL_SECONDS": "0.5", "PYTHONUNBUFFERED": "1"}
    logs = [tmp_path / f"scheduler{n}.log" for n in range(count)]
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"], cwd=ROOT, env=env,
                                  stdout=log.open("w"), stderr=subprocess.STDOUT) for log in logs]
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until():
            time.sleep(0.2)
        time.sleep(1.0)   # a few more sweeps each: they must find nothing more to do
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    output = "\n".join(log.read_text() for log in logs)
    assert all("scheduler running" in log.read_text() for log in logs), output[-3000:]
    return output


def test_two_scheduler_processes_down_for_an_hour_catch_up_escalating_each_missed_deadline_once(
        committed_app, scratch_database_url, clock, tmp_path):
    if not on_postgres(scratch_database_url):
        pytest.skip("two scheduler processes sharing a database: PostgreSQL's row locks")
    real_now = datetime.now(timezone.utc).replace(microsecond=0)

    # Sessions whose window, arrival and report fell due in the last hour and a half: missed.
    clock.set(real_now - timedelta(hours=2))
    waiting = arrange(committed_app, lambda session, c: w.book(session, c, clock.now() + 31 * MINUTE), patients=3)

    # Sessions taken three and a half hours ago, left unwatched: report and release missed.
    def dosed(session, c):
        clock.set(real_now - timedelta(hours=4))
        booked = w.book(session, c, clock.now() + 31 * MINUTE)
        w.open_window(session, c, booked, clock)   # swept while the scheduler was still up
        w.pre_dose(session, c)
        w.here(session, c)
        w.take(session, c)
        return booked
    taken = arrange(committed_app, dosed, patients=3)
    ids = [b.id for _, b in waiting + taken]

    output = run_schedulers(scratch_database_url, tmp_path, lambda: facts(committed_app, ids)[3] == 0)
    escalations, texts, missed_audits, pending_due, states = facts(committed_app, ids)
    assert pending_due == 0, output[-3000:]
    for _, booked in waiting:
        assert states[booked.id] == "missed"
        assert escalations[booked.id] == [("missed_sitter_arrival", 1)]
        assert texts[booked.id] == ["session_missed", "session_missed_sitter"]   # no stale window reminder
        assert missed_audits[booked.id] == 1
    for _, booked in taken:
        assert states[booked.id] == "dosed"
        assert escalations[booked.id] == [("missed_post_dose_report", 1), ("missed_release", 1)]
        # Past the release time no observation check is asked, and the stale prompts are not sent:
        # the high escalations bring the clinic to the phone instead.
        assert not {"observation_check", "post_dose_due", "release_due"} & set(texts[booked.id])
        assert missed_audits[booked.id] == 2
    assert "Traceback" not in output, output[-3000:]
