"""`audit verify`: walk the whole chain in order and check every link and every MAC.

Streaming and lean. One query joins each seal to its event; the database builds each event's
canonical content (`chain.content_columns`) and the driver hands back plain tuples a batch at a
time (a server-side cursor on PostgreSQL, read ahead by a thread so the server prepares the next
batch while this one is hashed). Python then only hashes: two HMACs a row, from precomputed key
states. Nothing is held but a few batches and each segment's last hash.

On PostgreSQL a long chain is walked as two segments of seals at once, over two connections, so
two server processes build contents in parallel; their batches are checked in turn and the
segments' joint (seq and hash) is checked at the end, exactly as if walked in one pass.

What each finding means:
- a seal number missing: a sealed event was removed together with its seal;
- a seal whose event is missing: the event row was deleted;
- an event whose content does not match its MAC: the row was edited;
- a seal whose hash does not match (event id, MAC, previous hash): rows were swapped, reordered,
  replaced, or the seal itself was edited or forged;
- a seal that does not follow the one before: seals were removed or reordered;
- an unsealed event with a wrong MAC: inserted (or edited before sealing) directly in the database;
- an unsealed event older than the grace: the sealer is not running, or it refused the event;
- the nonce's unique constraint missing, or two events sharing a nonce: a genuine row was copied.
"""
from __future__ import annotations

import queue
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator

import sqlalchemy as sa

from telehealth.audit.canonical import GENESIS, ChainKey, time_text
from telehealth.audit.chain import content_columns, time_column

FETCH_ROWS = 10_000
KEEP_PROBLEMS = 50
SEGMENTS = 2                 # PostgreSQL: server processes building contents at once
SEGMENT_MIN_SEALS = 200_000  # below this one pass is quicker than opening another connection
# The walk's plan on PostgreSQL: seals by primary key, each event looked up by its own; streams
# from the first row, never sorts or spills, builds each content once. JIT only adds compile time.
WALK_PLAN_OFF = ("enable_hashjoin", "enable_mergejoin", "enable_sort", "jit")


@dataclass
class Report:
    sealed: int = 0            # events in the chain
    pending: int = 0           # committed, unsealed, younger than the grace
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    head_seq: int = 0
    head_hash: bytes = GENESIS
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def events_per_second(self) -> float:
        return (self.sealed + self.pending) / self.seconds if self.seconds else 0.0

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:
            self.problems.append(problem)


def verify_chain(connection: sa.Connection, key: ChainKey, *, now: datetime,
                 grace: timedelta = timedelta(seconds=60)) -> Report:
    """Check the whole chain (read only). `now` is the clock's time: an event older than
    `now - grace` must be sealed."""
    started = time.perf_counter()
    report = Report()
    columns = content_columns(connection.dialect.name)
    _walk_chain(connection, key, columns, report)
    _check_unsealed(connection, key, columns, report, cutoff=time_text(now - grace), grace=grace)
    _check_nonces(connection, report)
    report.seconds = time.perf_counter() - started
    return report


# --- The chain ---------------------------------------------------------------------------------

@dataclass
class _Segment:
    """The walk over one range of seals; its first row's links are checked by whoever joins it."""
    key: ChainKey
    problems: list[tuple[int, str]] = field(default_factory=list)
    problem_count: int = 0
    sealed: int = 0
    first: tuple[int, int, bytes] | None = None  # seq, event id, prev_hash of its first seal
    expected: int = 0                             # the seq after its last seal
    last: bytes = GENESIS                         # its last seal's hash
    last_event: int | None = None

    def add(self, seq: int, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:  # rows come in seq order: these are its first
            self.problems.append((seq, problem))

    def check(self, rows: list[tuple]) -> None:
        if not rows:
            return
        event_inner, seal_inner, outer, pack = self.key.hot_functions()
        add = self.add
        if self.first is None:
            seq, event_id, prev = rows[0][:3]
            self.first, self.expected, self.last, self.last_event = (seq, event_id, prev), seq, prev, None
        expected, last, last_event, sealed = self.expected, self.last, self.last_event, self.sealed
        for seq, event_id, prev, digest, found, content, nonce, mac in rows:
            if seq != expected:
                add(seq, gap_problem(expected, seq, last_event, event_id))
            expected, last_event = seq + 1, event_id
            if found is None:
                add(seq, f"event {event_id} (seal #{seq}) is missing: deleted from the database")
                last = digest
                continue
            sealed += 1
            try:
                h = event_inner()
                h.update(nonce)
                h.update(content)
                o = outer()
                o.update(h.digest())
                mac_ok = o.digest() == mac
                h = seal_inner()
                h.update(pack(seq, event_id) + prev + mac)
                o = outer()
                o.update(h.digest())
                link_ok = o.digest() == digest
            except TypeError:  # a column emptied in the database
                mac_ok = link_ok = False
            if not mac_ok:
                add(seq, f"event {event_id} (seal #{seq}) does not match its MAC: edited in the database")
            elif not link_ok:
                add(seq, f"event {event_id} (seal #{seq}) does not match its seal: rows swapped, reordered or "
                         "replaced, or the seal edited")
            if prev != last:
                add(seq, follow_problem(seq, event_id))
            last = digest
        self.expected, self.last, self.last_event, self.sealed = expected, last, last_event, sealed


def gap_problem(expected: int, seq: int, last_event: int | None, event_id: int) -> str:
    missing = f"seal #{expected}" if seq == expected + 1 else f"seals #{expected}..#{seq - 1}"
    where = f"after event {last_event} and " if last_event is not None else ""
    return (f"{missing} missing: the event(s) sealed {where}before event {event_id} (seal #{seq}) "
            "were removed from the database")


def follow_problem(seq: int, event_id: int) -> str:
    return f"event {event_id} (seal #{seq}) does not follow seal #{seq - 1}: seals removed, reordered or edited"


def _walk_chain(connection: sa.Connection, key: ChainKey, columns: str, report: Report) -> None:
    postgresql = connection.dialect.name == "postgresql"
    sql = (f"SELECT s.seq, s.event_id, s.prev_hash, s.hash, e.id, {columns} "
           "FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id "
           "WHERE s.seq BETWEEN {low} AND {high} ORDER BY s.seq")
    low, high, count = connection.execute(sa.text("SELECT min(seq), max(seq), count(*) FROM audit_seals")).one()
    if not count:
        return
    parts = SEGMENTS if postgresql and count >= SEGMENT_MIN_SEALS else 1
    step = -(-(high - low + 1) // parts)
    bounds = [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(parts)]
    segments = [_Segment(key) for _ in bounds]
    with ExitStack() as stack:
        streams = []
        for i, (first, last) in enumerate(bounds):
            # The first segment on the caller's connection, the others on connections of their own.
            segment_connection = connection if i == 0 else stack.enter_context(connection.engine.connect())
            if postgresql:
                for setting in WALK_PLAN_OFF:
                    segment_connection.execute(sa.text(f"SET LOCAL {setting} = off"))
                segment_connection.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
            streams.append(stack.enter_context(
                _batches(segment_connection, sql.format(low=int(first), high=int(last)), f"audit_verify_{i}")))
        # Batches of every segment in turn: each segment's server process works on its next one meanwhile.
        active = list(zip(segments, streams))
        while active:
            for pair in list(active):
                batch = next(pair[1], None)
                if batch is None:
                    active.remove(pair)
                else:
                    pair[0].check(batch)
        if postgresql:
            for setting in (*WALK_PLAN_OFF, "max_parallel_workers_per_gather"):
                connection.execute(sa.text(f"RESET {setting}"))
    _join(segments, report)


def _join(segments: list[_Segment], report: Report) -> None:
    """The segments end to end: each one's first seal must follow the one before's last."""
    expected, last, last_event = 1, GENESIS, None
    problems: list[tuple[int, str]] = []
    for segment in segments:
        if segment.first is None:
            continue
        seq, event_id, prev = segment.first
        if seq != expected:
            problems.append((seq, gap_problem(expected, seq, last_event, event_id)))
            report.problem_count += 1
        if prev != last:
            problems.append((seq, follow_problem(seq, event_id)))
            report.problem_count += 1
        problems += segment.problems
        report.problem_count += segment.problem_count
        report.sealed += segment.sealed
        expected, last, last_event = segment.expected, segment.last, segment.last_event
    # Each segment kept its own first problems: together they hold the chain's first ones.
    report.problems += [problem for _, problem in sorted(problems, key=lambda item: item[0])[:KEEP_PROBLEMS]]
    report.head_seq = expected - 1
    report.head_hash = bytes(last)


class _batches:
    """Context manager over the rows of `sql`, as an iterator of lists of plain tuples. On
    PostgreSQL a server-side cursor read ahead by a thread (the driver waits on the network with
    the GIL released); on SQLite the cursor itself."""

    def __init__(self, connection: sa.Connection, sql: str, name: str):
        self.connection, self.sql, self.name = connection, sql, name

    def __enter__(self) -> Iterator[list[tuple]]:
        raw = self.connection.connection.driver_connection
        if self.connection.dialect.name != "postgresql":
            self.cursor = raw.cursor()
            self.cursor.execute(self.sql)
            self.thread = None
            return iter(lambda: self.cursor.fetchmany(FETCH_ROWS) or None, None)
        self.cursor = raw.cursor(name=self.name, binary=True)
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read_ahead, name=f"{self.name}-read-ahead", daemon=True)
        self.thread.start()
        return self._from_queue()

    def _read_ahead(self) -> None:
        try:
            self.cursor.execute(self.sql)
            while not self.stop.is_set():
                batch = self.cursor.fetchmany(FETCH_ROWS)
                self.queue.put(batch)
                if not batch:
                    return
        except BaseException as error:  # noqa: BLE001 - raised again by the reader
            self.queue.put(error)

    def _from_queue(self) -> Iterator[list[tuple]]:
        while True:
            batch = self.queue.get()
            if isinstance(batch, BaseException):
                raise batch
            if not batch:
                return
            yield batch

    def __exit__(self, *_exc: object) -> None:
        if self.thread is not None:
            self.stop.set()
            while self.thread.is_alive():  # unblock a reader waiting to put
                try:
                    self.queue.get(timeout=0.05)
                except queue.Empty:
                    pass
            self.thread.join()
        self.cursor.close()


# --- Events outside the chain ------------------------------------------------------------------

def _check_unsealed(connection: sa.Connection, key: ChainKey, columns: str, report: Report, *,
                    cutoff: str, grace: timedelta) -> None:
    # Each seal names a distinct event: as many events as sealed ones walked means none is
    # outside the chain, and the anti-join below (a pass over both tables) can be spared.
    if connection.execute(sa.text("SELECT count(*) FROM audit_events")).scalar() == report.sealed:
        return
    time_sql = time_column(connection.dialect.name)
    sql = (f"SELECT e.id, {time_sql}, {columns} FROM audit_events e WHERE NOT EXISTS "
           "(SELECT 1 FROM audit_seals s WHERE s.event_id = e.id) ORDER BY e.id")
    with _batches(connection, sql, "audit_verify_unsealed") as batches:
        for batch in batches:
            for event_id, occurred_at, content, nonce, mac in batch:
                try:
                    genuine = key.event_mac(bytes(nonce), bytes(content)) == bytes(mac)
                except TypeError:
                    genuine = False
                if not genuine:
                    report.add(f"event {event_id} is not sealed and does not match its MAC: inserted or edited "
                               "directly in the database")
                elif occurred_at < cutoff:
                    report.add(f"event {event_id} (at {occurred_at}) is still not sealed after "
                               f"{grace.total_seconds():g} s: is the scheduler's seal_audit_chain job running?")
                else:
                    report.pending += 1


def _check_nonces(connection: sa.Connection, report: Report) -> None:
    """A copy of a genuine row carries a valid MAC; its nonce gives it away. While the unique
    constraint on the nonce stands (a catalog look-up) no copy can exist; without it, look."""
    inspector = sa.inspect(connection)
    unique = [c["column_names"] for c in inspector.get_unique_constraints("audit_events")] + \
        [i["column_names"] for i in inspector.get_indexes("audit_events") if i.get("unique")]
    if ["nonce"] in unique:
        return
    report.add("the unique constraint on audit_events.nonce is missing: dropped in the database")
    for low, high in connection.execute(sa.text(
            "SELECT min(id), max(id) FROM audit_events GROUP BY nonce HAVING count(*) > 1 ORDER BY 1 LIMIT 10")):
        report.add(f"events {low} and {high} share a nonce: event {high} is a copy inserted in the database")
