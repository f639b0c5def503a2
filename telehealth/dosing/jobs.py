"""The deadline sweep the scheduler runs.

`sweep_deadlines` handles what is due now, in batches of DEADLINE_SWEEP_BATCH, oldest first: each
batch is one transaction that locks its sessions (skipping any another transaction holds, which
another sweeper or a check-in is deciding), handles each deadline and commits. A batch that fails
is rolled back whole and its deadlines are handled again one transaction each, so one failure
never holds back the rest, and the one that fails stays pending for the next sweep.

`sweep_deadlines_on_time` is the job the scheduler starts every DEADLINE_SWEEP_SECONDS: it sweeps,
then sleeps until the next deadline falls due and sweeps again, until the next start. A deadline
is handled as it falls due, not at the next tick.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Callable

import sqlalchemy as sa

from telehealth import clock
from telehealth.db import database
from telehealth.dosing import deadlines
from telehealth.dosing.operations import DosingSettings

log = logging.getLogger(__name__)

# Deadlines due within this long of the job's next start are left to that run, so a run ends
# before the next one starts (APScheduler skips, with a warning, a start while one runs).
HANDOVER = timedelta(milliseconds=100)
# When the next due deadline is already due but was not taken (its session was locked by
# another transaction), how long to wait before looking again.
RETRY_LOCKED = timedelta(milliseconds=50)
# time.sleep never returns early, but the clock may be a hair behind it: wake just after the due time.
WAKE_AFTER_DUE = timedelta(milliseconds=2)


def sweep_deadlines(job, *, batch: int | None = None, max_batches: int = 200,  # noqa: ANN001
                    failed: set[int] | None = None, workers: int | None = None) -> dict[str, int]:
    """Handle every deadline due now (up to `max_batches` batches each); returns a tally by the
    state each was settled in (and "failed"). With `workers` > 1 (DEADLINE_SWEEP_WORKERS), that
    many threads take batches at once: SKIP LOCKED hands each its own sessions, and one thread's
    wait for PostgreSQL is another's turn at the CPU. SQLite serializes writers: one thread."""
    settings = DosingSettings.from_config(job.config)
    size = batch or int(job.config["DEADLINE_SWEEP_BATCH"])
    failed = set() if failed is None else failed
    count = workers or int(job.config["DEADLINE_SWEEP_WORKERS"])
    if count <= 1 or not _threads_possible(job):
        return dict(_sweep(job, settings, size, max_batches, failed))
    with ThreadPoolExecutor(count, thread_name_prefix="deadline-sweep") as pool:
        parts = [pool.submit(_in_app, job, _sweep, job, settings, size, max_batches, failed) for _ in range(count)]
        tally: Counter[str] = Counter()
        for part in parts:
            tally.update(part.result())
    return dict(tally)


def _threads_possible(job) -> bool:  # noqa: ANN001
    """Threads need connections of their own from the engine's pool, and row locks: PostgreSQL.
    (A session factory bound to one connection, as a test's transaction is, gets one thread.)"""
    db = database(job.app)
    return db.dialect == "postgresql" and isinstance(db.sessions.kw.get("bind"), sa.Engine)


def _in_app(job, fn, *args):  # noqa: ANN001, ANN002, ANN202
    with job.app.app_context():
        return fn(*args)


def _sweep(job, settings: DosingSettings, size: int, max_batches: int, failed: set[int]) -> Counter[str]:  # noqa: ANN001
    tally: Counter[str] = Counter()
    for _ in range(max_batches):
        handled, seen = _batch(job, settings, size, failed)
        tally.update(handled)
        if seen < size:
            break
    return tally


def _batch(job, settings: DosingSettings, size: int, failed: set[int]) -> tuple[Counter[str], int]:  # noqa: ANN001
    """One batch in one transaction; returns its tally and how many due deadlines it took."""
    tally: Counter[str] = Counter()
    ids: list[int] = []
    try:
        with job.transaction() as session:
            due = deadlines.lock_due(session, size, exclude=failed)
            ids = [deadline.id for deadline, _ in due]
            for deadline, found in due:
                state = deadlines.handle(session, settings, found, deadline)
                if state is not None:
                    tally[state.value] += 1
        return tally, len(ids)
    except Exception:
        if not ids:
            raise
        log.exception("a batch of %d deadlines failed; handling them one at a time", len(ids))
    tally = Counter()
    for deadline_id in ids:
        try:
            with job.transaction() as session:
                state = deadlines.process(session, settings, deadline_id)
        except Exception:
            log.exception("deadline %s could not be handled; it stays pending for the next sweep", deadline_id)
            tally["failed"] += 1
            failed.add(deadline_id)
            continue
        if state is not None:
            tally[state.value] += 1
    return tally, len(ids)


def sweep_deadlines_on_time(job, *, sleep: Callable[[float], None] = time.sleep) -> dict[str, int]:  # noqa: ANN001
    """The scheduler's job: sweep, then until the next start, sleep until the next deadline falls
    due and sweep it then. `sleep` is injectable so tests advance a frozen clock instead of waiting."""
    next_start = clock.now() + timedelta(seconds=float(job.config["DEADLINE_SWEEP_SECONDS"]))
    failed: set[int] = set()
    tally: Counter[str] = Counter()
    while True:
        tally.update(sweep_deadlines(job, failed=failed))
        with job.transaction() as session:
            upcoming = deadlines.next_due_at(session, exclude=failed)
        now = clock.now()
        if upcoming is None or upcoming >= next_start - HANDOVER:
            return dict(tally)
        wake = max(upcoming + WAKE_AFTER_DUE, now + RETRY_LOCKED) if upcoming <= now else upcoming + WAKE_AFTER_DUE
        if wake >= next_start - HANDOVER:
            return dict(tally)
        sleep((wake - now).total_seconds())
