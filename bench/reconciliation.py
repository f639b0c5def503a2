"""Reconciliation over a large ledger (issue 7: "returns in about a second over 1M ledger rows").

    .venv/bin/python bench/reconciliation.py [--rows 1000000] [--lots 250] [--runs 5]

1. A throwaway PostgreSQL cluster (or BENCH_DATABASE_URL), migrated to the newest revision
   (indexes of 0008 included); staff (prescribers, a pharmacist, compliance) made with the real
   operations.
2. A clinic's history loaded by the database itself (INSERT ... SELECT over generate_series):
   patients with a screening and two prescriptions each (8 per fill, 5 fills each: 8,334 patients
   for 1M rows), every fill dispensed from the lot in use that week (L lots in turn, so hundreds
   of patients share a lot and a patient's fills come from successive lots), and each fill's ledger: received 8, seven doses
   taken a few days apart, the last one wasted, and three counts on hand along the way (one in
   twenty short by one). About 12 ledger rows a fill, fills enough for the rows asked. Dates
   spread over four years. Then VACUUM ANALYZE, as after a day's autovacuum.
3. Timed through the real code (`telehealth.compliance.reconciliation`, an app session, the
   audit event included): per prescription and per lot, the first page (100 lines), a page in
   the middle, a month's range, and the whole report streamed as CSV (`export` through
   `csv_lines`, a server-side cursor). Each several times; the median and best are printed.

Every person is invented; no phone numbers are needed for patients here (their logins have none).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from bench import pg  # noqa: E402
from telehealth import migrate  # noqa: E402
from telehealth.accounts import operations as accounts  # noqa: E402
from telehealth.accounts.models import Role  # noqa: E402
from telehealth.actor import Actor  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.compliance import reconciliation  # noqa: E402
from telehealth.compliance.export import csv_lines  # noqa: E402
from telehealth.compliance.filters import Page, ReportFilters  # noqa: E402
from telehealth.db import database  # noqa: E402

PROFILE = "testing"
PASSWORD = "bench-only-password-2026"  # invented; the database is thrown away
FILLS_PER_PRESCRIPTION = 5
PRESCRIPTIONS_PER_PATIENT = 2
ROWS_PER_FILL = 12  # received, 7 taken, 1 wasted, 3 counts


def arrange_staff(app) -> dict[str, list[int]]:  # noqa: ANN001
    policy = app.extensions["account_policy"]
    made: dict[str, list[int]] = {"prescriber": [], "pharmacist": [], "compliance": []}
    with app.app_context():
        session = database(app).new_session()
        system = Actor.system("bench")
        for n, (role, name) in enumerate([(Role.PRESCRIBER, f"Prescriber Person{i}") for i in range(8)]
                                         + [(Role.PHARMACIST, "Ira Pharmacist"), (Role.COMPLIANCE, "Cory Compliance")]):
            user = accounts.create_user(session, system, policy, email=f"staff{n}@clinic.example.org", full_name=name,
                                        role=role, password=PASSWORD,
                                        phone=f"+1201555{110 + n:04d}" if role is Role.PRESCRIBER else None)
            if role is Role.PRESCRIBER:
                user.dea_number = "BZ9000007"
            session.flush()
            made[role.value].append(user.id)
        session.commit()
        session.close()
    return made


def load(url: str, *, patients: int, fills: int, lots: int, staff: dict[str, list[int]]) -> float:
    """The history, written by the database from generate_series; ids follow time in the ledger."""
    prescriptions = fills // FILLS_PER_PRESCRIPTION
    lot_days = max(1, 1500 // lots)  # the history spans about 1,500 days
    prescribers = staff["prescriber"]
    pharmacist = staff["pharmacist"][0]
    statements = [
        # Patients' logins and records (no phone: nobody is texted here).
        f"""INSERT INTO users (email, full_name, role, active, login_id, created_at, on_call)
            SELECT 'patient' || g || '@mail.example.org', 'Pat Patient' || g, 'patient', true,
                   'bench-login-' || g, timestamp '2022-01-01' AT TIME ZONE 'UTC', false
            FROM generate_series(1, {patients}) g""",
        f"""INSERT INTO patients (user_id, date_of_birth, address_line1, city, region, postal_code, timezone,
                                  prescriber_id, status, created_at)
            SELECT u.id, date '1980-01-01' + (u.id % 9000), u.id || ' Elm Street', 'Springfield', 'IL', '62701',
                   'America/New_York', (ARRAY{prescribers})[1 + u.id % {len(prescribers)}], 'active', u.created_at
            FROM users u WHERE u.role = 'patient'""",
        """INSERT INTO screenings (patient_id, recorded_by_id, recorded_at, contraindications, baseline_systolic,
                                   baseline_diastolic, phq9, gad7)
           SELECT p.id, p.prescriber_id, p.created_at, '[]', 124, 78, 17, 11 FROM patients p""",
        # Two prescriptions per patient, the second after the first's five fills; patients start
        # at staggered days over the first three years.
        f"""INSERT INTO prescriptions (patient_id, prescriber_id, prescriber_dea_number, screening_id, drug, strength_mg,
                                       dosage_form, lozenges_per_dose, quantity, refills, directions, doses_in_series,
                                       min_hours_between_doses, max_doses_per_7_days, issued_on, expires_on, status,
                                       created_at, status_changed_at)
            SELECT p.id, p.prescriber_id, 'BZ9000007', s.id, 'ketamine hydrochloride', 100,
                   'sublingual rapid-dissolve tablet', 1, 8, 4, 'Dissolve one under the tongue with your sitter present.',
                   8, 72, 2, d.issued_on, d.issued_on + 182, 'active',
                   d.issued_on::timestamp AT TIME ZONE 'UTC', d.issued_on::timestamp AT TIME ZONE 'UTC'
            FROM patients p JOIN screenings s ON s.patient_id = p.id
            CROSS JOIN generate_series(0, {PRESCRIPTIONS_PER_PATIENT - 1}) k
            CROSS JOIN LATERAL (SELECT date '2022-01-03' + (p.id * 7919) % 1095 + k * 150 AS issued_on) d
            WHERE p.id <= {prescriptions // PRESCRIPTIONS_PER_PATIENT}
            ORDER BY d.issued_on, p.id""",
        # Five fills each, 28 days apart, each from the lot in use that week (lots in turn).
        f"""INSERT INTO dispensings (prescription_id, fill_number, quantity, lot_number, lot_expiry, pharmacist_id,
                                     dispensed_at)
            SELECT r.id, f, 8, 'KX-' || lpad((1 + (extract(epoch FROM t.at)::bigint / 86400 / {lot_days}) % {lots})::text,
                                             4, '0'),
                   date '2027-06-30', {pharmacist}, t.at
            FROM prescriptions r CROSS JOIN generate_series(1, {FILLS_PER_PRESCRIPTION}) f
            CROSS JOIN LATERAL (SELECT r.created_at + (f - 1) * interval '28 days' + interval '10 hours' AS at) t
            ORDER BY t.at, r.id""",
        # Each fill's ledger, in time order (ids follow time): received 2 days after the fill, a
        # dose every 3 days, counts after doses 2, 5 and 7 (one in twenty short by one), the last
        # lozenge wasted with a witness.
        """INSERT INTO inventory_movements (patient_id, lot_number, kind, quantity, reported_count, at, actor_label,
                                            witness_name)
           SELECT r.patient_id, CASE WHEN e.kind = 'count_reported' THEN '*' ELSE d.lot_number END, e.kind,
                  e.quantity, e.reported, d.dispensed_at + e.after, 'system: bench', e.witness
           FROM dispensings d JOIN prescriptions r ON r.id = d.prescription_id
           CROSS JOIN LATERAL (VALUES
               ('received', 8, NULL::int, interval '2 days', NULL),
               ('dose_taken', -1, NULL, interval '3 days', NULL), ('dose_taken', -1, NULL, interval '6 days', NULL),
               ('count_reported', 0, CASE WHEN d.id % 20 = 0 THEN 5 ELSE 6 END, interval '6 days 1 hour', NULL),
               ('dose_taken', -1, NULL, interval '9 days', NULL), ('dose_taken', -1, NULL, interval '12 days', NULL),
               ('dose_taken', -1, NULL, interval '15 days', NULL),
               ('count_reported', 0, 3, interval '15 days 1 hour', NULL),
               ('dose_taken', -1, NULL, interval '18 days', NULL), ('dose_taken', -1, NULL, interval '21 days', NULL),
               ('count_reported', 0, 1, interval '21 days 1 hour', NULL),
               ('wasted', -1, NULL, interval '24 days', 'Casey Witness')) e(kind, quantity, reported, after, witness)
           ORDER BY d.dispensed_at + e.after, r.patient_id""",
    ]
    started = time.perf_counter()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def timed(runs: int, work) -> tuple[float, float, object]:  # noqa: ANN001
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), min(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="ledger rows (about)")
    parser.add_argument("--lots", type=int, default=250)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", action="append", metavar="NAME=VALUE", help="a PostgreSQL setting")
    args = parser.parse_args()
    per_patient = FILLS_PER_PRESCRIPTION * PRESCRIPTIONS_PER_PATIENT
    patients = -(-args.rows // (ROWS_PER_FILL * per_patient))
    fills = patients * per_patient

    with pg.throwaway_cluster(pg.parse_settings(args.pg)) as url:
        migrate.upgrade(url)
        app = create_app(PROFILE, overrides={"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        staff = arrange_staff(app)
        print(f"loading {fills:,} fills over {patients:,} patients and {args.lots} lots ...", flush=True)
        seconds = load(url, patients=patients, fills=fills, lots=args.lots, staff=staff)
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            counts = {table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
                      for table in ("patients", "prescriptions", "dispensings", "inventory_movements")}
            lot_count = connection.execute(sa.text("SELECT count(DISTINCT lot_number) FROM dispensings")).scalar()
        engine.dispose()
        print(f"loaded in {seconds:.1f} s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
              + f", {lot_count} lots")
        print("server:", ", ".join(f"{k}={v}" for k, v in pg.server_settings(url).items()))

        zone = ZoneInfo(app.config["DEFAULT_TIMEZONE"])
        officer = Actor(user_id=staff["compliance"][0], role="compliance", label="bench")
        month = ReportFilters(start_on=date(2023, 6, 1), end_on=date(2023, 6, 30))
        results = []
        with app.app_context():
            session = database(app).new_session()
            for grouping in reconciliation.Grouping:
                def first_page() -> int:
                    return len(reconciliation.read_page(session, officer, grouping, ReportFilters(), Page(), zone))

                keys = [line.key for line in reconciliation.read_page(session, officer, grouping, ReportFilters(),
                                                                       Page(size=500), zone)]
                middle = keys[len(keys) // 2] if grouping is reconciliation.Grouping.LOT else counts["prescriptions"] // 2

                def middle_page() -> int:
                    return len(reconciliation.read_page(session, officer, grouping, ReportFilters(),
                                                        Page(after=middle), zone))

                def month_page() -> int:
                    return len(reconciliation.read_page(session, officer, grouping, month, Page(), zone))

                def whole_csv() -> int:
                    lines = 0
                    for _ in csv_lines(reconciliation.HEADER[grouping],
                                       reconciliation.export(session, officer, grouping, ReportFilters(), zone)):
                        lines += 1
                    return lines - 1

                for name, work in (("first page (100 lines)", first_page), ("a middle page", middle_page),
                                   ("first page, one month", month_page), ("whole report as CSV", whole_csv)):
                    median, best, result = timed(args.runs, work)
                    session.rollback()
                    results.append((grouping.value, name, result, median, best))
                    print(f"  per {grouping.value:<12} {name:<24} {result:>7,} lines  median {median * 1000:8.1f} ms"
                          f"  best {best * 1000:8.1f} ms", flush=True)
            session.close()
        database(app).engine.dispose()
        print(f"\nreconciliation over {counts['inventory_movements']:,} ledger rows (median of {args.runs}):")
        for grouping, name, result, median, best in results:
            print(f"| per {grouping} | {name} | {result:,} | {median * 1000:.0f} ms | {best * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
