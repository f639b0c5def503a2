"""`audit verify` speed over a large chain (target: >= 200,000 events per second).

    .venv/bin/python bench/audit_verify.py [--events 1000000] [--runs 3]

1. A throwaway PostgreSQL cluster (or BENCH_DATABASE_URL), migrated to the newest revision; a few
   invented staff and patients made with the real operations.
2. N synthetic audit events with genuine MACs and their seals, computed with the same functions
   the app uses (`telehealth.audit.canonical`) and bulk-loaded with COPY: a mix of record reads,
   list reads, refusals and system events with details of a few sizes.
3. `flask --app wsgi audit verify` run as the real command in a subprocess (the testing profile,
   whose fixed throwaway key signed the events), several times; prints its line and events/s.

Every person and event is invented.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from bench import pg  # noqa: E402
from telehealth import migrate  # noqa: E402
from telehealth.accounts import operations as accounts  # noqa: E402
from telehealth.accounts.models import Role  # noqa: E402
from telehealth.actor import Actor  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.audit.chain import seal_pending  # noqa: E402
from telehealth.audit.canonical import GENESIS, ChainKey, details_text, event_content, time_text  # noqa: E402
from telehealth.db import database  # noqa: E402

PROFILE = "testing"  # its AUDIT_HMAC_KEY is a fixed throwaway value, the same in the verify subprocess
COLUMNS = ("id", "occurred_at", "actor_user_id", "actor_label", "action", "object_type", "object_id",
           "patient_id", "details", "client_address", "nonce", "mac")


def arrange_people(app) -> tuple[list[int], list[int]]:  # noqa: ANN001
    """A few invented prescribers and patients (fictional 555-01xx phones), for realistic ids."""
    policy = app.extensions["account_policy"]
    staff, patients = [], []
    with app.app_context():
        session = database(app).new_session()
        system = Actor.system("bench")
        for n in range(3):
            user = accounts.create_user(session, system, policy, email=f"prescriber{n}@clinic.example.org",
                                        full_name=f"Prescriber Person{n}", role=Role.PRESCRIBER,
                                        password="correct horse battery", phone=f"+1201555{110 + n:04d}")
            session.flush()
            staff.append(user.id)
        for n in range(12):
            patient = accounts.enrol_patient(
                session, system, policy, email=f"patient{n}@mail.example.org", full_name=f"Pat Patient{n}",
                phone=f"+1202555{120 + n:04d}", date_of_birth=date(1980, 1, 1 + n), address_line1=f"{n} Elm Street",
                city="Springfield", region="IL", postal_code="62701", timezone="America/Chicago",
                prescriber_id=staff[n % len(staff)], password="correct horse battery")
            session.flush()
            patients.append(patient.id)
        session.commit()
        # Their audit events join the chain the ordinary way, before the synthetic ones.
        seal_pending(session)
        session.commit()
        session.close()
    return staff, patients


def synthetic_events(n: int, key: ChainKey, staff: list[int], patients: list[int], first_id: int,  # noqa: ANN201
                     seq: int, prev: bytes):
    """(event row, seal row) pairs with genuine MACs and links, in chain order, after seal `seq`."""
    rng = random.Random(7)
    start = datetime(2026, 1, 5, 13, 0, tzinfo=timezone.utc)
    for i in range(n):
        event_id = first_id + i
        at = start + timedelta(microseconds=i * 350_017)
        kind = i % 10
        if kind < 6:
            user, patient = rng.choice(staff), rng.choice(patients)
            row = (at, user, f"user {user}", "patient.record_read", "patient", str(patient), patient,
                   {"channel": "web", "path": f"/patients/{patient}"}, f"10.0.{i % 200}.{i % 250}")
        elif kind < 8:
            user = rng.choice(staff)
            row = (at, user, f"user {user}", "patient.list_read", "patient_list", None, None,
                   {"patient_ids": rng.sample(patients, 5), "filter": "mine"}, "10.0.0.9")
        elif kind == 8:
            row = (at, None, "anonymous", "access.refused", None, None, None,
                   {"method": "GET", "path": "/patients", "reason": "not logged in"}, "192.0.2.44")
        else:
            patient = rng.choice(patients)
            row = (at, None, "system: scheduler", "deadline.missed", "dose_session", str(i), patient,
                   {"deadline": "post_dose_report", "session_state": "dosed", "minutes_late": 15}, None)
        at, user, label, action, otype, oid, patient, details, address = row
        stored = details_text(details)
        nonce = os.urandom(16)
        mac = key.event_mac(nonce, event_content(time_text(at), user, label, action, otype, oid, patient, address,
                                                 stored))
        seq += 1
        link = key.seal_hash(seq, event_id, prev, mac)
        yield ((event_id, at, user, label, action, otype, oid, patient, stored, address, nonce, mac),
               (seq, event_id, prev, link))
        prev = link


def load(url: str, n: int, key: ChainKey, staff: list[int], patients: list[int]) -> float:
    started = time.perf_counter()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        first_id = 1 + (connection.execute(sa.text("SELECT coalesce(max(id), 0) FROM audit_events")).scalar())
        # The chain goes on from its head (the arranging's own events, sealed by the real sealer).
        head = connection.execute(sa.text("SELECT seq, hash FROM audit_seals ORDER BY seq DESC LIMIT 1")).first()
        seq, prev = (head[0], bytes(head[1])) if head else (0, GENESIS)
        with raw.cursor() as cursor:
            # Events first (seals refer to them), through one pass that keeps the seals aside in
            # batches: the events' COPY, then the seals' COPY.
            seals = []
            with cursor.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for done, (event, seal) in enumerate(synthetic_events(n, key, staff, patients, first_id, seq, prev), 1):
                    copy.write_row(event)
                    seals.append(seal)
                    if done % 200_000 == 0:
                        print(f"  generated {done:,} events", flush=True)
            with cursor.copy("COPY audit_seals (seq, event_id, prev_hash, hash) FROM STDIN") as copy:
                for seal in seals:
                    copy.write_row(seal)
            cursor.execute("SELECT setval('audit_events_id_seq', (SELECT max(id) FROM audit_events))")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE audit_events"))
        connection.execute(sa.text("VACUUM ANALYZE audit_seals"))
    engine.dispose()
    return time.perf_counter() - started


def run_verify(url: str) -> tuple[int, float, str]:
    env = {**os.environ, "TELEHEALTH_PROFILE": PROFILE, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "audit", "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    return result.returncode, time.perf_counter() - started, (result.stdout + result.stderr).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg", action="append", metavar="NAME=VALUE", help="a PostgreSQL setting")
    args = parser.parse_args()

    with pg.throwaway_cluster(pg.parse_settings(args.pg)) as url:
        migrate.upgrade(url)
        app = create_app(PROFILE, overrides={"DATABASE_URL": url})
        staff, patients = arrange_people(app)
        database(app).engine.dispose()
        key = ChainKey(app.config["AUDIT_HMAC_KEY"])
        print(f"loading {args.events:,} signed and sealed audit events ...", flush=True)
        seconds = load(url, args.events, key, staff, patients)
        print(f"loaded in {seconds:.1f} s", flush=True)
        print("server:", ", ".join(f"{k}={v}" for k, v in pg.server_settings(url).items()))

        rates, walls = [], []
        for run in range(1, args.runs + 1):
            code, wall, output = run_verify(url)
            print(f"run {run}: exit {code}, {wall:.2f} s wall (process start included)\n  {output}")
            if code != 0:
                raise SystemExit("audit verify failed on a genuine chain")
            # The command's own figure: from its first query to its verdict (the app's import and
            # start, about a second, excluded).
            rates.append(float(re.search(r"([\d,]+) events/s", output).group(1).replace(",", "")))
            walls.append(args.events / wall)
        rates.sort()
        print(f"\naudit verify over {args.events:,} events: median {rates[len(rates) // 2]:,.0f} events/s, "
              f"best {rates[-1]:,.0f} (target >= 200,000: {'met' if rates[len(rates) // 2] >= 200_000 else 'NOT met'}); "
              f"by wall clock with process start: best {max(walls):,.0f} events/s")


if __name__ == "__main__":
    main()
