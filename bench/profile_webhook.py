"""Where an SMS webhook's time goes: the dose conversation in process, under cProfile.

    .venv/bin/python bench/profile_webhook.py [--patients 100] [--top 30]

Arranges patients with open sessions (as `sms_throughput.py` does), then plays each pair's
conversation (HERE, READY, 128/82, 72, N, N, 6, 8, TAKEN) through Flask's test client, signed as
Twilio signs, against PostgreSQL. Prints the mean time and the SQL statements per text by step,
then the functions that took the most time. Not a throughput figure (no server, one thread).

Then the floor, CPU per text in this same process: the bare handler of `sms_throughput.py` (the
ceiling's work: signature, one lookup, one insert, TwiML; WSGI and SQLAlchemy Core) and the app
answering a repeated MessageSid (signature, the insert that finds it stored, an empty TwiML: the
least the app does for any text, Flask and the ORM session included).
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from sqlalchemy import event  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench import pg  # noqa: E402
from bench.loadgen import ACCOUNT_SID, CLINIC_NUMBER  # noqa: E402
from bench.sms_throughput import SCRIPT, arrange  # noqa: E402
from telehealth import migrate  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.db import database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--no-profile", action="store_true", help="time without cProfile (its overhead is large)")
    parser.add_argument("--dump", help="write the cProfile stats to this file")
    parser.add_argument("--show-sql", action="store_true", help="print the statements of the first pair's texts")
    args = parser.parse_args()
    token = "bench-throwaway-profile-token"
    with pg.throwaway_cluster() as url:
        migrate.upgrade(url)
        pairs = arrange(url, args.patients)
        app = create_app("development", overrides={"DATABASE_URL": url, "JOBS_IN_PROCESS": False,
                                                   "TWILIO_AUTH_TOKEN": token, "SMS_BACKEND": "console",
                                                   "PUBLIC_BASE_URL": "http://127.0.0.1:8000", "LOG_LEVEL": "WARNING"})
        client = app.test_client()
        validator = RequestValidator(token)
        statements = [0]
        shown: list[str] = []

        @event.listens_for(database(app).engine, "before_cursor_execute")
        def count(_conn, _cursor, statement, *_args):  # noqa: ANN001, ANN002, ANN202
            statements[0] += 1
            shown.append(" ".join(statement.split())[:160])

        per_step: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)
        cpu_by_step: dict[str, list[float]] = collections.defaultdict(list)
        profiler = cProfile.Profile()
        for pair in pairs:
            for who, step, body in SCRIPT:
                params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": ACCOUNT_SID,
                          "From": pair.sitter_phone if who == "sitter" else pair.patient_phone,
                          "To": CLINIC_NUMBER, "Body": body, "NumMedia": "0"}
                signature = validator.compute_signature("http://127.0.0.1:8000/twilio/sms", params)
                before = statements[0]
                began, cpu = time.perf_counter(), time.process_time()
                if not args.no_profile:
                    profiler.enable()
                response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": signature})
                if not args.no_profile:
                    profiler.disable()
                per_step[step].append((time.perf_counter() - began, statements[0] - before))
                cpu_by_step[step].append(time.process_time() - cpu)
                if args.show_sql and pair is pairs[0]:
                    print(f"--- {step} ({body}): {statements[0] - before} statements")
                    print("\n".join("    " + line for line in shown[-(statements[0] - before):] if line))
                assert response.status_code == 200, response.status_code
        print(f"\n{'step':<12} {'mean ms':>8} {'CPU ms':>7} {'SQL statements':>15}")
        total_time = total_sql = n = 0
        for _, step, _ in SCRIPT:
            samples = per_step[step]
            mean_ms = sum(s for s, _ in samples) / len(samples) * 1000
            mean_sql = sum(q for _, q in samples) / len(samples)
            total_time += sum(s for s, _ in samples)
            total_sql += sum(q for _, q in samples)
            n += len(samples)
            cpu_ms = sum(cpu_by_step[step]) / len(cpu_by_step[step]) * 1000
            print(f"{step:<12} {mean_ms:>8.2f} {cpu_ms:>7.2f} {mean_sql:>15.1f}")
        total_cpu = sum(sum(v) for v in cpu_by_step.values())
        print(f"{'all':<12} {total_time / n * 1000:>8.2f} {total_cpu / n * 1000:>7.2f} {total_sql / n:>15.1f}")
        print()
        floor(app, client, validator, pairs, url, token)
        print()
        if args.dump:
            profiler.dump_stats(args.dump)
        if not args.no_profile:
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(args.top)
        database(app).engine.dispose()


def floor(app, client, validator: RequestValidator, pairs, url: str, token: str) -> None:  # noqa: ANN001
    """CPU per text of the bare handler and of the app's least work, in this process."""
    os.environ.update({"DATABASE_URL": url, "PUBLIC_BASE_URL": "http://127.0.0.1:8000", "TWILIO_AUTH_TOKEN": token})
    from werkzeug.test import Client  # noqa: PLC0415 - only here

    from bench import bare_app  # noqa: PLC0415 - reads the environment at import
    bare = Client(bare_app.app)

    def signed(phone: str, sid: str) -> tuple[dict[str, str], dict[str, str]]:
        params = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": phone, "To": CLINIC_NUMBER,
                  "Body": "HELP", "NumMedia": "0"}
        return params, {"X-Twilio-Signature": validator.compute_signature("http://127.0.0.1:8000/twilio/sms", params)}

    # The bare handler stores each text; the app is then handed the same ones, each a repeat.
    texts = [signed(pair.patient_phone, "SM" + uuid.uuid4().hex) for pair in pairs for _ in range(5)]
    figures = {}
    for name, post in (("bare handler (WSGI, Core: the ceiling's work)", lambda p, h: bare.post("/twilio/sms", data=p, headers=h)),
                       ("app: a repeated MessageSid (Flask, ORM session)", lambda p, h: client.post("/twilio/sms", data=p, headers=h))):
        began = time.process_time()
        for params, headers in texts:
            response = post(params, headers)
            assert response.status_code == 200, response.status_code
        figures[name] = (time.process_time() - began) / len(texts) * 1000
    print(f"floor, CPU per text in this process ({len(texts)} texts each):")
    for name, ms in figures.items():
        print(f"  {name:<52} {ms:6.2f} ms")
    bare_app.ENGINE.dispose()


if __name__ == "__main__":
    main()
