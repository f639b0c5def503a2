"""SMS webhook throughput: the real dose-session conversation against a bare handler (the ceiling).

    .venv/bin/python bench/sms_throughput.py [--patients 2000] [--seconds 20] [--workers 4] [--clients 16]

1. A throwaway PostgreSQL cluster (or BENCH_DATABASE_URL), migrated; N patients arranged with the
   real operations and the real clock, each with a verified sitter, an active prescription,
   8 lozenges received, and a dose session booked 25 minutes from now whose window the real
   deadline sweep has opened (so it is `open` now). All committed.
2. The ceiling: `bench/bare_app.py` (signature check, one lookup, one insert, TwiML) under
   gunicorn, closed loop, then open loop at half its rate.
3. The app: `wsgi:app` under the same gunicorn command (sync workers, JOBS_IN_PROCESS off, SMS
   backend console, signatures checked with a throwaway token against PUBLIC_BASE_URL = the
   loopback URL). Closed loop: each client thread plays whole conversations, sitter `HERE`, then
   patient `READY`, `128/82`, `72`, `N`, `N`, `6`, `8`, `TAKEN`, each text sent when the reply to
   the previous one is in. Then open loop at half the ceiling's closed-loop rate.

Prints one table of every pass, the ratio app / ceiling (target >= 0.6), the app's p99 at half
the ceiling's rate (target <= 25 ms), and what the app replied at each step.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import sqlalchemy as sa  # noqa: E402

from bench import loadgen, pg  # noqa: E402
from bench.loadgen import Conversation, Text, percentile, signed_request  # noqa: E402
from bench.world import Pair, World  # noqa: E402
from telehealth import clock, migrate  # noqa: E402
from telehealth.app import create_app  # noqa: E402
from telehealth.db import database  # noqa: E402
from telehealth.dosing.jobs import sweep_deadlines  # noqa: E402
from telehealth.jobs.runner import JobContext  # noqa: E402

HOST = "127.0.0.1"
SCRIPT = [("sitter", "HERE", "HERE"), ("patient", "READY", "READY"), ("patient", "bp", "128/82"),
          ("patient", "pulse", "72"), ("patient", "substances", "N"), ("patient", "self_harm", "N"),
          ("patient", "mood", "6"), ("patient", "on_hand", "8"), ("patient", "TAKEN", "TAKEN")]
STEPS = [step for _, step, _ in SCRIPT]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with sync workers on loopback, its output in a log file."""

    def __init__(self, module: str, env: dict[str, str], workers: int, log_dir: str, name: str):
        self.port = free_port()
        self.public = f"http://{HOST}:{self.port}"
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.command = [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--workers", str(workers), "--worker-class", "sync",
                        "--bind", f"{HOST}:{self.port}", "--backlog", "2048", "--timeout", "60", "--chdir", ROOT,
                        module]
        self.env = {**env, "PUBLIC_BASE_URL": self.public}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=ROOT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log_path}:\n" + open(self.log_path).read()[-3000:])
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(12).startswith(b"HTTP/1."):
                        return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid, *loadgen.children_of(self.process.pid)]

    def __exit__(self, *exc: object) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def conversations(pairs: list[Pair], server: Server, token: str) -> list[Conversation]:
    built = []
    for pair in pairs:
        texts = []
        for who, step, body in SCRIPT:
            phone = pair.sitter_phone if who == "sitter" else pair.patient_phone
            texts.append(Text(step, signed_request(HOST, server.port, server.public, token, phone, body)))
        built.append(Conversation(texts))
    return built


def status_fallback(pairs: list[Pair], server: Server, token: str):  # noqa: ANN201
    """When every conversation of a pass is played out: a patient texts STATUS (counted apart)."""
    chooser = random.Random(7)

    def text() -> Text:
        pair = chooser.choice(pairs)
        return Text("STATUS (fallback)", signed_request(HOST, server.port, server.public, token,
                                                        pair.patient_phone, "STATUS"))
    return text


class CpuMeter:
    """CPU seconds used by the server's processes, PostgreSQL and this client during a pass."""

    def __init__(self, server: Server):
        self.server = server

    def read(self) -> dict[str, float]:
        found = {"server": loadgen.cpu_seconds(self.server.pids()), "db": loadgen.cpu_seconds(pg.postgres_pids()),
                 "client": loadgen.cpu_seconds([os.getpid()])}
        found["machine"] = loadgen.machine_busy_seconds()
        return found

    def __enter__(self) -> "CpuMeter":
        self.before = self.read()
        return self

    def __exit__(self, *exc: object) -> None:
        after = self.read()
        self.used = {name: after[name] - self.before[name] for name in after}
        # Whatever else ran on the machine meanwhile (other people's test runs share these cores).
        self.used["other"] = max(0.0, self.used.pop("machine") - sum(self.used.values()))


Row = dict


def summarize(name: str, result: loadgen.Result, cpu: CpuMeter, target_rate: float | None = None) -> Row:
    latencies = result.latencies_ms()
    bad = sum(1 for s in result.samples if s.status != 200)
    wall = result.wall or 1.0
    return {"pass": name, "texts": len(result.samples), "wall": result.wall, "rate": result.rate,
            "offered": target_rate, "p50": percentile(latencies, 50), "p90": percentile(latencies, 90),
            "p99": percentile(latencies, 99), "max": latencies[-1] if latencies else float("nan"),
            "non200": bad + result.errors, "exhausted": result.exhausted, "overloaded": result.overloaded,
            "cpu": {k: v / wall for k, v in cpu.used.items()}}


def print_table(rows: list[Row]) -> None:
    print()
    header = (f"{'pass':<34} {'texts':>6} {'wall s':>7} {'msg/s':>8} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} "
              f"{'max ms':>7} {'non-200':>7}  cores busy: server / postgres / client / other")
    print(header)
    print("-" * len(header))
    for r in rows:
        name = r["pass"] + (f" @{r['offered']:.0f}/s" if r["offered"] else "")
        cpu = r["cpu"]
        print(f"{name:<34} {r['texts']:>6} {r['wall']:>7.1f} {r['rate']:>8.1f} {r['p50']:>7.1f} {r['p90']:>7.1f} "
              f"{r['p99']:>7.1f} {r['max']:>7.1f} {r['non200']:>7}  {cpu['server']:.2f} / {cpu['db']:.2f} / "
              f"{cpu['client']:.2f} / {cpu['other']:.2f}" + ("  (ran out of conversations)" if r["exhausted"] else "")
              + ("  (OVERLOADED: stopped early)" if r["overloaded"] else ""))


def print_replies(results: list[loadgen.Result]) -> None:
    """What the app answered at each step of the conversation (the most common replies)."""
    by_step: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for result in results:
        for sample in result.samples:
            reply = sample.reply.replace("\n", " ")
            by_step[sample.step][(sample.status, reply[:110] + ("…" if len(reply) > 110 else ""))] += 1
    print("\nReplies from the app, by step (count, HTTP status, reply):")
    for step in [*STEPS, "STATUS (fallback)"]:
        if step not in by_step:
            continue
        print(f"  {step}:")
        for (status, reply), n in by_step[step].most_common(3):
            print(f"    {n:>6}  {status}  {reply or '(no reply)'}")


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return (f"{os.cpu_count()} cores ({model}), {mem_kb / 1048576:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, load before start {os.getloadavg()[0]:.2f}")


def arrange(url: str, n: int) -> list[Pair]:
    app = create_app("development", overrides={"DATABASE_URL": url, "JOBS_IN_PROCESS": False})
    world = World(app)
    began = time.perf_counter()
    pairs = world.patients(n)
    # Booked 25 minutes ahead: the window opened 5 minutes ago (30 before); arrival is due in 55.
    at = clock.now() + timedelta(minutes=25)
    for pair in pairs:
        world.book(pair, at)
    with app.app_context():
        swept = sweep_deadlines(JobContext(app), max_batches=100_000)
    states = world.session_states()
    print(f"arranged {n} patients with open sessions in {time.perf_counter() - began:.1f} s "
          f"(sweep: {swept}; sessions: {states})", flush=True)
    if states.get("open") != n:
        raise SystemExit(f"expected {n} open sessions, found {states}")
    database(app).engine.dispose()
    return pairs


def session_states(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        found = dict(connection.execute(sa.text("SELECT state, count(*) FROM dose_sessions GROUP BY state")).all())
    engine.dispose()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000, help="patients with open sessions (default 2000)")
    parser.add_argument("--seconds", type=float, default=20, help="length of each measured pass (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up before each server's passes (default 3)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--clients", type=int, default=16, help="closed-loop client threads (default 16)")
    parser.add_argument("--senders", type=int, default=48, help="open-loop sender threads (default 48)")
    parser.add_argument("--pg", action="append", metavar="NAME=VALUE",
                        help="a PostgreSQL setting for the throwaway cluster (repeatable), e.g. --pg fsync=off")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    token = "bench-throwaway-" + secrets.token_hex(16)   # invented for this run, never a real credential
    log_dir = tempfile.mkdtemp(prefix="bench-sms.")
    with pg.throwaway_cluster(pg.parse_settings(args.pg)) as url:
        print(f"postgresql: {pg.server_settings(url)}")
        migrate.upgrade(url)
        pairs = arrange(url, args.patients)
        env = {**os.environ, "TELEHEALTH_PROFILE": "development", "DATABASE_URL": url, "JOBS_IN_PROCESS": "0",
               "SMS_BACKEND": "console", "TWILIO_VALIDATE_SIGNATURES": "1", "TWILIO_AUTH_TOKEN": token,
               "SECRET_KEY": secrets.token_hex(32), "PYTHONDONTWRITEBYTECODE": "1"}
        rows: list[Row] = []
        app_results: list[loadgen.Result] = []

        # The bare handler keeps no state: its texts are the same conversations on the first
        # pairs' phones, cycled (each text with its own MessageSid), signed before the clock starts.
        warm, rest = pairs[:60], pairs[60:]
        with Server("bench.bare_app:app", env, args.workers, log_dir, "bare") as bare:
            def bare_texts(seconds: float, per_second: float = 4000) -> collections.deque:
                wanted = int(seconds * per_second / len(SCRIPT)) + 1
                cycled = [pairs[i % len(pairs)] for i in range(wanted)]
                return collections.deque(conversations(cycled, bare, token))

            loadgen.closed_loop(HOST, bare.port, bare_texts(args.warmup), clients=args.clients, seconds=args.warmup)
            texts = bare_texts(args.seconds)
            with CpuMeter(bare) as cpu:
                result = loadgen.closed_loop(HOST, bare.port, texts, clients=args.clients, seconds=args.seconds,
                                             fallback=status_fallback(pairs, bare, token))
            rows.append(summarize("ceiling: bare handler, closed loop", result, cpu))
            ceiling = result.rate
            half = ceiling / 2
            texts = bare_texts(args.seconds, half * 1.1)
            with CpuMeter(bare) as cpu:
                result = loadgen.open_loop(HOST, bare.port, texts, rate=half, seconds=args.seconds,
                                           senders=args.senders, fallback=status_fallback(pairs, bare, token))
            rows.append(summarize("ceiling: bare handler, open loop", result, cpu, half))

        with Server("wsgi:app", env, args.workers, log_dir, "app") as app_server:
            loadgen.closed_loop(HOST, app_server.port, collections.deque(conversations(warm, app_server, token)),
                                clients=args.clients, seconds=args.warmup,
                                fallback=status_fallback(warm, app_server, token))
            # Every app pass takes fresh conversations (sessions still open) from one queue.
            fresh = collections.deque(conversations(rest, app_server, token))
            fallback = status_fallback(rest, app_server, token)
            with CpuMeter(app_server) as cpu:
                result = loadgen.closed_loop(HOST, app_server.port, fresh, clients=args.clients,
                                             seconds=args.seconds, fallback=fallback)
            rows.append(summarize("app: dose conversation, closed loop", result, cpu))
            app_results.append(result)
            app_rate = result.rate
            with CpuMeter(app_server) as cpu:
                result = loadgen.open_loop(HOST, app_server.port, fresh, rate=half, seconds=args.seconds,
                                           senders=args.senders, fallback=fallback)
            rows.append(summarize("app: dose conversation, open loop", result, cpu, half))
            app_results.append(result)
            app_half_p99, app_half_rate, app_half_overloaded = rows[-1]["p99"], result.rate, result.overloaded
            # For the record: the app at half of its own closed-loop rate.
            with CpuMeter(app_server) as cpu:
                result = loadgen.open_loop(HOST, app_server.port, fresh, rate=app_rate / 2, seconds=args.seconds,
                                           senders=args.senders, fallback=fallback)
            rows.append(summarize("app: dose conversation, open loop", result, cpu, app_rate / 2))
            app_results.append(result)
            own_half_p99 = rows[-1]["p99"]
            print(f"fresh conversations left unused: {len(fresh)}", flush=True)

        print_table(rows)
        ratio = app_rate / ceiling if ceiling else float("nan")
        print(f"\nratio app / ceiling (closed loop): {app_rate:.1f} / {ceiling:.1f} = {ratio:.2f}   "
              f"target >= 0.60: {'met' if ratio >= 0.6 else 'MISSED'}")
        met = app_half_p99 <= 25 and not app_half_overloaded
        print(f"app p99 at half the ceiling's rate ({half:.0f}/s offered, {app_half_rate:.0f}/s done): "
              f"{app_half_p99:.1f} ms{' (overloaded)' if app_half_overloaded else ''}   "
              f"target <= 25 ms: {'met' if met else 'MISSED'}")
        print(f"app p99 at half its own closed-loop rate ({app_rate / 2:.0f}/s): {own_half_p99:.1f} ms")
        print_replies(app_results)
        print(f"\ndose sessions after the run: {session_states(url)}")
        print(f"gunicorn logs: {log_dir}")


if __name__ == "__main__":
    main()
