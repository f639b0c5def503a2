"""Deadlines: how soon a missed one reaches the outbox, and whether the sweep slows as history grows.

    .venv/bin/python bench/deadline_latency.py [--sessions 500] [--spread 25] [--history 1000000]

(a) Deadline-to-outbox latency, with the real scheduler process (`flask --app wsgi scheduler`,
    DEADLINE_SWEEP_SECONDS at its default) and the real clock. N patients are arranged with the
    real operations and booked so that their sessions' windows open, then their sitter-arrival /
    pre-dose-report deadlines fall due, spread over `--spread` seconds (timings shrunk through the
    same environment variables a clinic would set: the window opens 15 s before the scheduled
    time, arrival and report are due 15 s after it). Nobody checks in, so every session is missed.
    For each deadline: the time from its `due_at` to the commit of the first outbox row it
    caused (window opened: the patient's or sitter's reminder; missed: the patient's or sitter's
    text, or the prescriber's page). Target: p99 <= 2 s for the missed deadlines.

(b) Sweep time with 1k vs 1M finished sessions. The same small set of due deadlines (K sessions
    of live patients: K windows opening, then K sessions missing arrival and report) is swept in
    process with the real `sweep_deadlines` (due_deadline_ids + process, each in its own
    transaction), first with 1k finished sessions in the database, then with 1M (bulk-inserted
    in SQL: finished sessions of discharged patients, with their settled deadlines). A frozen
    clock in this process only moves each trial to a fresh booking time (100 h apart, inside the
    prescription's limits); nothing waits. Target: time with 1M <= 1.5x time with 1k.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from bench import pg  # noqa: E402
from bench.loadgen import percentile  # noqa: E402
from bench.sms_throughput import machine  # noqa: E402
from bench.world import World  # noqa: E402
from telehealth import clock, migrate  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.db import database  # noqa: E402
from telehealth.dosing import deadlines  # noqa: E402
from telehealth.dosing.jobs import sweep_deadlines  # noqa: E402
from telehealth.jobs.runner import JobContext  # noqa: E402

# Shrunk timings (minutes, as config names them), for the scheduler process and this one alike.
TIMINGS = {"SESSION_WINDOW_OPENS_MINUTES_BEFORE": "0.25", "SITTER_ARRIVAL_MINUTES_AFTER_SCHEDULED": "0.25",
           "PRE_DOSE_REPORT_MINUTES_AFTER_SCHEDULED": "0.25"}


def stats_ms(values: list[float]) -> str:
    ordered = sorted(v * 1000 for v in values)
    if not ordered:
        return "no samples"
    return (f"n={len(ordered):>4}  p50={percentile(ordered, 50):7.1f} ms  p90={percentile(ordered, 90):7.1f} ms  "
            f"p99={percentile(ordered, 99):7.1f} ms  max={ordered[-1]:7.1f} ms")


# --- (a) ------------------------------------------------------------------------------------

LATENCY_SQL = sa.text("""
WITH caused AS (
    SELECT m.owner_id AS session_id, m.template, m.created_at FROM messages m
     WHERE m.owner_type = 'dose_session' AND m.direction = 'outbound'
    UNION ALL
    SELECT e.session_id, 'page', m.created_at FROM messages m JOIN escalations e ON m.owner_type = 'escalation'
       AND m.owner_id = e.id WHERE m.direction = 'outbound'
)
SELECT d.kind, d.state, d.dose_session_id,
       EXTRACT(EPOCH FROM pg_xact_commit_timestamp(d.xmin) - d.due_at) AS latency,
       EXTRACT(EPOCH FROM (SELECT min(c.created_at) FROM caused c WHERE c.session_id = d.dose_session_id
                            AND c.template = ANY(:templates)) - d.due_at) AS created_latency
  FROM deadlines d
 WHERE d.dose_session_id = ANY(:ids) AND d.kind = :kind
""")
# The latency counts to the COMMIT that handed the texts to the outbox: that is when the
# dispatcher can see them. A deadline is settled in the same transaction that inserts the texts
# it causes and is never updated after, so the commit time of its row version (`xmin`, with
# `track_commit_timestamp` switched on for this part) is that commit. A deadline counts only if
# its text or page exists (`created_latency`: to the rows' `created_at`, stamped at INSERT,
# which is how figures were measured before; earlier than the commit when a transaction handles
# several deadlines).
COMMIT_TIMESTAMPS = {"track_commit_timestamp": "on"}


def deadline_to_outbox(url: str, n: int, spread: float, log_dir: str, schedulers: int = 1) -> None:
    env = {**os.environ, **TIMINGS, "TELEHEALTH_PROFILE": "development", "DATABASE_URL": url, "JOBS_IN_PROCESS": "0",
           "SMS_BACKEND": "console", "LOG_LEVEL": "WARNING"}
    app = create_app("development", overrides={"DATABASE_URL": url, "JOBS_IN_PROCESS": False,
                                               **{k: float(v) for k, v in TIMINGS.items()}})
    world = World(app)
    began = time.perf_counter()
    pairs = world.patients(n)
    print(f"(a) arranged {n} patients in {time.perf_counter() - began:.1f} s", flush=True)
    window_before = timedelta(minutes=float(TIMINGS["SESSION_WINDOW_OPENS_MINUTES_BEFORE"]))
    # The first window opens 10 s after booking starts (booking N takes a few seconds); the
    # missed deadlines follow 30 s after each window.
    first = clock.now() + window_before + timedelta(seconds=10)
    ids = []
    for i, pair in enumerate(pairs):
        ids.append(world.book(pair, first + timedelta(seconds=spread * i / n)))
    booked_at = clock.now()
    log_paths = [os.path.join(log_dir, f"scheduler{i}.log") for i in range(schedulers)]
    running = [subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "flask"), "--app", "wsgi", "scheduler"],
                                cwd=ROOT, env=env, stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
               for log_path in log_paths]
    started_at = clock.now()
    engine = database(app).engine
    with engine.connect() as connection:
        first_due = connection.execute(sa.text("SELECT min(due_at) FROM deadlines WHERE state = 'pending'")).scalar()
    print(f"    booked {n} sessions in {(booked_at - (first - window_before - timedelta(seconds=10))).total_seconds():.1f} s;"
          f" scheduler started {(first_due - started_at).total_seconds():.1f} s before the first deadline", flush=True)
    last_due = first + timedelta(seconds=spread) + timedelta(minutes=float(TIMINGS["SITTER_ARRIVAL_MINUTES_AFTER_SCHEDULED"]))
    try:
        while clock.now() < last_due + timedelta(seconds=5):
            time.sleep(1)
            for scheduler, log_path in zip(running, log_paths):
                if scheduler.poll() is not None:
                    raise SystemExit("a scheduler stopped:\n" + open(log_path).read()[-3000:])
        for _ in range(30):   # until every due deadline is settled
            with engine.connect() as connection:
                left = connection.execute(sa.text("SELECT count(*) FROM deadlines WHERE state = 'pending' "
                                                  "AND due_at <= now()")).scalar()
            if not left:
                break
            time.sleep(1)
    finally:
        for scheduler in running:
            scheduler.terminate()
        for scheduler in running:
            scheduler.wait(timeout=30)
    with engine.connect() as connection:
        opened = connection.execute(LATENCY_SQL, {"ids": ids, "kind": "window_opens",
                                                  "templates": ["window_open_patient", "window_open_sitter"]}).all()
        missed = connection.execute(LATENCY_SQL, {"ids": ids, "kind": "sitter_arrival",
                                                  "templates": ["session_missed", "session_missed_sitter", "page"]}).all()
        states = dict(connection.execute(sa.text("SELECT state, count(*) FROM dose_sessions WHERE id = ANY(:ids) "
                                                 "GROUP BY state"), {"ids": ids}).all())
    no_text = sum(1 for row in opened + missed if row.created_latency is None)
    print(f"\n(a) deadline-to-outbox latency, {n} sessions, deadlines spread over {spread:.0f} s, "
          f"DEADLINE_SWEEP_SECONDS={app.config['DEADLINE_SWEEP_SECONDS']}, DEADLINE_SWEEP_BATCH="
          f"{app.config['DEADLINE_SWEEP_BATCH']}, DEADLINE_SWEEP_WORKERS={app.config['DEADLINE_SWEEP_WORKERS']}, "
          f"{schedulers} scheduler process{'es' if schedulers > 1 else ''}")
    print(f"    window opened (reminders)   {stats_ms([float(r.latency) for r in opened if r.created_latency is not None])}")
    lat = [float(r.latency) for r in missed if r.created_latency is not None]
    print(f"    missed arrival + report     {stats_ms(lat)}")
    print(f"    (to created_at, not commit:  window {stats_ms([float(r.created_latency) for r in opened if r.created_latency is not None])})")
    print(f"    (to created_at, not commit:  missed {stats_ms([float(r.created_latency) for r in missed if r.created_latency is not None])})")
    p99 = percentile(sorted(lat), 99) if lat else float("inf")
    print(f"    target p99 <= 2 s (missed): {'met' if p99 <= 2 and not no_text else 'MISSED'}"
          f"   (deadlines without an outbox row: {no_text}; sessions now: {states})")
    print(f"    scheduler logs: {', '.join(log_paths)}")
    engine.dispose()


# --- (b) ------------------------------------------------------------------------------------

HISTORIC_PER_PATIENT = 6
# A finished session's deadlines: (kind, offset from the scheduled time in minutes, state).
COMPLETED_DEADLINES = [("window_opens", -30, "met"), ("sitter_arrival", 30, "met"), ("pre_dose_report", 30, "met"),
                       ("dose_taken_reminder", 25, "cancelled"), ("dose_taken", 35, "met"),
                       ("observation_check", 35, "met"), ("observation_answer", 45, "met"),
                       ("observation_check", 65, "met"), ("observation_answer", 75, "met"),
                       ("post_dose_prompt", 65, "met"), ("post_dose_report", 80, "met"),
                       ("release_prompt", 125, "met"), ("release", 140, "met")]
MISSED_DEADLINES = [("window_opens", -30, "met"), ("sitter_arrival", 30, "missed"),
                    ("pre_dose_report", 30, "missed")]


def add_history(engine: sa.Engine, first: int, last: int, prescription_id: int, sitter_id: int,
                prescriber_id: int) -> None:
    """Finished sessions number `first`..`last` (1-based), 6 per discharged patient: 90% completed
    with their 13 settled deadlines, 10% missed with 3; all in the past two years."""
    p_first, p_last = (first - 1) // HISTORIC_PER_PATIENT + 1, (last - 1) // HISTORIC_PER_PATIENT + 1
    with engine.begin() as c:
        c.execute(sa.text("""
            INSERT INTO users (email, full_name, phone, role, password_hash, active, login_id, created_at, on_call)
            SELECT 'hist' || g || '@bench.example.org', 'Former Patient' || g, NULL, 'patient', NULL, false,
                   'bench-hist-' || md5(g::text), now() - interval '3 years', false
              FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g
            ON CONFLICT (email) DO NOTHING"""), {"a": p_first, "b": p_last})
        c.execute(sa.text("""
            INSERT INTO patients (user_id, date_of_birth, address_line1, city, region, postal_code, timezone,
                                  prescriber_id, status, created_at)
            SELECT u.id, date '1980-01-01', '1 Past Street', 'Springfield', 'IL', '62701', 'America/Chicago',
                   :prescriber, 'discharged', u.created_at
              FROM users u LEFT JOIN patients p ON p.user_id = u.id
             WHERE u.email LIKE 'hist%@bench.example.org' AND p.id IS NULL"""), {"prescriber": prescriber_id})
        c.execute(sa.text("""
            CREATE TEMP TABLE hist_patients ON COMMIT DROP AS
            SELECT substring(u.email from 5 for position('@' in u.email) - 5)::int AS k, p.id AS patient_id
              FROM users u JOIN patients p ON p.user_id = u.id WHERE u.email LIKE 'hist%@bench.example.org'"""))
        c.execute(sa.text("CREATE INDEX ON hist_patients (k)"))
        c.execute(sa.text("ANALYZE hist_patients"))   # fresh statistics, or the first batch plans as if empty
        before = c.execute(sa.text("SELECT coalesce(max(id), 0) FROM dose_sessions")).scalar()
        c.execute(sa.text("""
            INSERT INTO dose_sessions (patient_id, prescription_id, sitter_id, dose_number, scheduled_at, state,
                created_at, window_opened_at, sitter_arrived_at, pre_dose_started_at, pre_dose_completed_at,
                cleared_at, dosed_at, post_dose_started_at, post_dose_completed_at, released_at, ended_at,
                end_reason)
            SELECT h.patient_id, :prescription, :sitter, (g - 1) % 6 + 1, s.at,
                   CASE WHEN g % 10 = 0 THEN 'missed' ELSE 'completed' END,
                   s.at - interval '3 days', s.at - interval '30 minutes',
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at - interval '10 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at - interval '9 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at - interval '5 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at - interval '5 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at + interval '60 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at + interval '65 minutes' END,
                   CASE WHEN g % 10 = 0 THEN NULL ELSE s.at + interval '125 minutes' END,
                   CASE WHEN g % 10 = 0 THEN s.at + interval '30 minutes' ELSE s.at + interval '125 minutes' END,
                   CASE WHEN g % 10 = 0 THEN 'missed: no sitter arrival and no pre-dose report' END
              FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) g
              JOIN hist_patients h ON h.k = (g - 1) / 6 + 1
              CROSS JOIN LATERAL (SELECT now() - interval '730 days' + (g % 500000) * interval '2 minutes'
                                         + ((g - 1) % 6) * interval '4 days' AS at) s"""),
                  {"a": first, "b": last, "prescription": prescription_id, "sitter": sitter_id})
        c.execute(sa.text("ANALYZE dose_sessions"))
        for kinds, state_filter in ((COMPLETED_DEADLINES, "completed"), (MISSED_DEADLINES, "missed")):
            values = ", ".join(f"('{kind}', {offset}, '{state}')" for kind, offset, state in kinds)
            c.execute(sa.text(f"""
                INSERT INTO deadlines (dose_session_id, kind, due_at, state, settled_at)
                SELECT d.id, v.kind, d.scheduled_at + v.off * interval '1 minute', v.state,
                       d.scheduled_at + v.off * interval '1 minute'
                  FROM dose_sessions d CROSS JOIN (VALUES {values}) AS v(kind, off, state)
                 WHERE d.id > :after AND d.state = :state AND d.prescription_id = :prescription"""),
                      {"state": state_filter, "prescription": prescription_id, "after": before})


class FixedClock:
    def __init__(self, at):  # noqa: ANN001
        self.at = at

    def now(self):  # noqa: ANN201
        return self.at


def sweep_trials(app, world: World, live, trials: int, base, k_offset: int, k: int) -> list[dict]:  # noqa: ANN001
    """Each trial: book K live patients' sessions at a fresh time; at the window's opening, time
    the sweep (K windows open); at the arrival deadline, time it again (K sessions missed)."""
    settings = world.dosing
    results = []
    job = JobContext(app)
    for t in range(trials):
        at = base + timedelta(hours=100 * (k_offset + t))
        fixed = FixedClock(at - timedelta(hours=1))
        previous = clock.install(fixed)
        try:
            for pair in live[:k]:
                world.book(pair, at)
            row = {}
            for phase, moment in (("open", at - settings.timings.window_opens_before),
                                  ("missed", at + settings.timings.sitter_arrival_after)):
                fixed.at = moment
                with job.transaction() as session:
                    query_times = []
                    for _ in range(20):
                        began = time.perf_counter()
                        due = deadlines.due_deadline_ids(session)
                        query_times.append(time.perf_counter() - began)
                row[f"{phase}_due"] = len(due)
                row[f"{phase}_query"] = statistics.median(query_times)
                with app.app_context():
                    began = time.perf_counter()
                    tally = sweep_deadlines(job)
                    row[f"{phase}_sweep"] = time.perf_counter() - began
                row[f"{phase}_tally"] = tally
            results.append(row)
        finally:
            clock.install(previous)
    return results


def summarize_trials(label: str, rows: list[dict]) -> dict[str, float]:
    measured = rows[1:] if len(rows) > 1 else rows   # the first trial warms caches
    out = {key: statistics.median(r[key] for r in measured)
           for key in ("open_query", "open_sweep", "missed_query", "missed_sweep")}
    out["total"] = statistics.median(r["open_sweep"] + r["missed_sweep"] for r in measured)
    print(f"    {label:<26} due_deadline_ids {out['open_query'] * 1000:6.2f} / {out['missed_query'] * 1000:6.2f} ms   "
          f"sweep {out['open_sweep'] * 1000:7.1f} / {out['missed_sweep'] * 1000:7.1f} ms   "
          f"both {out['total'] * 1000:7.1f} ms   (tallies: {rows[-1]['open_tally']}, {rows[-1]['missed_tally']})")
    return out


def table_sizes(engine: sa.Engine) -> str:
    with engine.connect() as c:
        sessions = c.execute(sa.text("SELECT count(*) FROM dose_sessions")).scalar()
        finished = c.execute(sa.text("SELECT count(*) FROM dose_sessions WHERE state IN "
                                     "('completed', 'missed', 'cancelled')")).scalar()
        rows = c.execute(sa.text("SELECT count(*) FROM deadlines")).scalar()
        pending = c.execute(sa.text("SELECT count(*) FROM deadlines WHERE state = 'pending'")).scalar()
        size = c.execute(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
    return f"{sessions} sessions ({finished} finished), {rows} deadlines ({pending} pending), database {size}"


def sweep_vs_history(url: str, k: int, trials: int, history: int) -> None:
    app = create_app("development", overrides={"DATABASE_URL": url, "JOBS_IN_PROCESS": False})
    engine = database(app).engine
    world = World(app)
    live = world.patients(k, progress=False)
    keeper = world.patients(1, progress=False)[0]   # the discharged patients' history hangs off this one's rows
    with engine.connect() as c:
        prescription_id = c.execute(sa.text("SELECT id FROM prescriptions WHERE patient_id = :p"),
                                    {"p": keeper.patient_id}).scalar()
    base = clock.now() + timedelta(days=1)

    with engine.connect() as c:
        finished_now = c.execute(sa.text("SELECT count(*) FROM dose_sessions WHERE state IN "
                                         "('completed', 'missed', 'cancelled')")).scalar()
    small = 1000
    extra = max(0, small - finished_now - k * trials)   # the trials themselves add K missed sessions each
    if extra:
        add_history(engine, 1, extra, prescription_id, keeper.sitter_id, keeper.prescriber_id)
    with engine.begin() as c:
        c.execute(sa.text("ANALYZE"))
    print(f"\n(b) sweep time vs finished sessions; each trial sweeps {k} windows opening, then {k} sessions missing "
          f"arrival and report (median of {trials - 1} trials after one warm-up; due_deadline_ids: median of 20)")
    print(f"    before the 1k trials: {table_sizes(engine)}")
    small_rows = sweep_trials(app, world, live, trials, base, 0, k)
    print(f"    after: {table_sizes(engine)}")
    small_stats = summarize_trials("~1k finished sessions", small_rows)

    began = time.perf_counter()
    with engine.connect() as c:
        finished_now = c.execute(sa.text("SELECT count(*) FROM dose_sessions WHERE state IN "
                                         "('completed', 'missed', 'cancelled')")).scalar()
    wanted = history - finished_now - k * trials
    step = 200_000
    for start in range(extra + 1, extra + wanted + 1, step):
        add_history(engine, start, min(start + step - 1, extra + wanted), prescription_id, keeper.sitter_id,
                    keeper.prescriber_id)
        print(f"    bulk-inserted {min(start + step - 1, extra + wanted) - extra} / {wanted} finished sessions "
              f"({time.perf_counter() - began:.0f} s)", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE"))   # as autovacuum would have, over the years that history took
    print(f"    loaded in {time.perf_counter() - began:.0f} s; before the 1M trials: {table_sizes(engine)}")
    large_rows = sweep_trials(app, world, live, trials, base, trials, k)
    print(f"    after: {table_sizes(engine)}")
    large_stats = summarize_trials(f"~{history:,} finished sessions", large_rows)
    ratio = large_stats["total"] / small_stats["total"]
    query_ratio = large_stats["missed_query"] / small_stats["missed_query"]
    print(f"    ratio large / 1k: sweep {ratio:.2f}x, due_deadline_ids {query_ratio:.2f}x   "
          f"target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'}")
    with engine.connect() as c:
        plan = c.execute(sa.text("EXPLAIN SELECT id FROM deadlines WHERE state = 'pending' AND due_at <= now() "
                                 "ORDER BY due_at, id LIMIT 500")).scalars().all()
    print("    plan of the due query: " + " | ".join(line.strip() for line in plan))
    # The query the sweep's batches run (deadlines.lock_due), as compiled for PostgreSQL.
    with database(app).new_session() as session:
        lock_query = deadlines.lock_due_query(20)
        compiled = lock_query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
        plan = session.execute(sa.text("EXPLAIN " + str(compiled))).scalars().all()
        session.rollback()
    print("    plan of the batch's locking query: " + " | ".join(line.strip() for line in plan))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=500, help="(a) sessions whose deadlines fall due (500)")
    parser.add_argument("--spread", type=float, default=25, help="(a) seconds the deadlines are spread over (25)")
    parser.add_argument("--sweep-sessions", type=int, default=50, help="(b) due sessions per trial (50)")
    parser.add_argument("--trials", type=int, default=6, help="(b) trials per database size, first is warm-up (6)")
    parser.add_argument("--history", type=int, default=1_000_000, help="(b) finished sessions in the large case")
    parser.add_argument("--schedulers", type=int, default=1, help="(a) scheduler processes running (1)")
    parser.add_argument("--only", choices=("a", "b"), help="run one part only")
    parser.add_argument("--pg", action="append", metavar="NAME=VALUE", help="a PostgreSQL setting (repeatable)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    log_dir = tempfile.mkdtemp(prefix="bench-deadlines.")
    with pg.throwaway_cluster({**COMMIT_TIMESTAMPS, **pg.parse_settings(args.pg)}) as url:
        print(f"postgresql: {pg.server_settings(url)}")
        migrate.upgrade(url)
        if args.only in (None, "a"):
            deadline_to_outbox(url, args.sessions, args.spread, log_dir, args.schedulers)
        if args.only in (None, "b"):
            # A database of its own, so (a)'s rows do not count as history.
            admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text("CREATE DATABASE bench_sweep"))
            admin.dispose()
            sweep_url = url.rsplit("/", 1)[0] + "/bench_sweep"
            migrate.upgrade(sweep_url)
            sweep_vs_history(sweep_url, args.sweep_sessions, args.trials, args.history)


if __name__ == "__main__":
    main()
