"""The audit chain on a real database with real commits: sealing in order, verification, and
tampering done directly in the database (as someone with database access would) being caught.

On PostgreSQL the database refuses UPDATE and DELETE of audit rows, so the tampering tests first
switch its triggers off, as a superuser could; on SQLite nothing stops them.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth import migrate
from telehealth.actor import Actor
from telehealth.audit.chain import seal_pending
from telehealth.audit.keys import chain_key
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record, record_for_each_patient
from telehealth.audit.verify import verify_chain
from telehealth.db import create_engine, database
from telehealth.jobs.runner import JobContext
from telehealth.jobs.schedule import JOBS


def add_events(app, count: int, *, label: str = "test", per_commit: int = 1) -> list[int]:
    ids = []
    db = database(app)
    for start in range(0, count, per_commit):
        with db.new_session() as session:
            events = [record(session, Actor.system(label), AuditAction.PATIENT_LIST_READ, object_type="list",
                             object_id=start + i, details={"n": start + i, "path": "/patients"})
                      for i in range(min(per_commit, count - start))]
            session.commit()
            ids += [event.id for event in events]
    return ids


def seal_all(app) -> int:
    sealed = 0
    with database(app).new_session() as session:
        while True:
            outcome = seal_pending(session, 100)
            sealed += outcome.sealed
            if outcome.sealed < 100:
                break
        session.commit()
    return sealed


def verify(app, clock, grace: float = 60):
    with database(app).new_session() as session:
        try:
            return verify_chain(session.connection(), chain_key(session), now=clock.now(),
                                grace=timedelta(seconds=grace))
        finally:
            session.rollback()


def seals(app) -> list[tuple[int, int]]:
    with database(app).engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text("SELECT seq, event_id FROM audit_seals ORDER BY seq"))]


def tamper(app, *statements: tuple[str, dict]) -> None:
    """Run SQL as an intruder with database access would: on PostgreSQL as a superuser with
    triggers (the append-only guard, foreign keys) switched off for the transaction; on SQLite
    with foreign keys off, as in the sqlite3 shell."""
    engine = database(app).engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
            for sql, params in statements:
                connection.execute(sa.text(sql), params)
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                cursor.execute(sql, params)
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
        finally:
            cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        raw.close()


def assert_fails_naming(report, text: str) -> None:
    assert not report.ok, "verify passed a tampered chain"
    assert text in report.problems[0], report.problems


def test_events_are_sealed_in_commit_order_and_verify(committed_app, clock):
    ids = add_events(committed_app, 7, per_commit=2)
    assert seal_all(committed_app) == 7
    assert seals(committed_app) == list(enumerate(ids, start=1))
    more = add_events(committed_app, 3)
    assert seal_all(committed_app) == 3 and seal_all(committed_app) == 0
    assert [event for _, event in seals(committed_app)] == ids + more
    report = verify(committed_app, clock)
    assert report.ok, report.problems
    assert (report.sealed, report.pending, report.head_seq) == (10, 0, 10)


def test_the_same_event_for_many_patients_is_signed_as_record_signs_it(committed_app, clock):
    with database(committed_app).new_session() as session:
        record_for_each_patient(session, Actor.system("test"), AuditAction.REPORT_EXPORTED, [None, None, None],
                                object_type="report", object_id="dispensing_log",
                                details={"report": "dispensing_log", "filters": {"lot_number": "=A1"}})
        session.commit()
    assert seal_all(committed_app) == 3
    report = verify(committed_app, clock)
    assert report.ok and report.sealed == 3, report.problems


def test_the_details_are_stored_as_the_text_the_mac_covers(committed_app):
    """record() signs json.dumps of the sorted details; the column must hold exactly that text."""
    [event_id] = add_events(committed_app, 1)
    engine = database(committed_app).engine
    cast = "details::text" if engine.dialect.name == "postgresql" else "CAST(details AS TEXT)"
    with engine.connect() as connection:
        stored = connection.execute(sa.text(f"SELECT {cast} FROM audit_events WHERE id = :id"),
                                    {"id": event_id}).scalar()
    assert stored == '{"n": 0, "path": "/patients"}'


def test_an_unsealed_event_is_pending_then_named_after_the_grace(committed_app, clock):
    add_events(committed_app, 2)
    seal_all(committed_app)
    [late] = add_events(committed_app, 1)
    report = verify(committed_app, clock)
    assert report.ok and report.pending == 1
    clock.advance(seconds=61)
    assert_fails_naming(verify(committed_app, clock), f"event {late} ")
    seal_all(committed_app)
    assert verify(committed_app, clock).ok


def test_editing_an_events_details_is_named(committed_app, clock):
    ids = add_events(committed_app, 5)
    seal_all(committed_app)
    tamper(committed_app, ("UPDATE audit_events SET details = :d WHERE id = :id",
                           {"d": '{"n": 2, "path": "/elsewhere"}', "id": ids[2]}))
    report = verify(committed_app, clock)
    assert_fails_naming(report, f"event {ids[2]} (seal #3) does not match its MAC")
    assert report.problem_count == 1


def test_editing_the_time_or_actor_is_named(committed_app, clock):
    ids = add_events(committed_app, 3)
    seal_all(committed_app)
    tamper(committed_app, ("UPDATE audit_events SET actor_label = 'system: someone else' WHERE id = :id",
                           {"id": ids[0]}))
    assert_fails_naming(verify(committed_app, clock), f"event {ids[0]} (seal #1)")


def test_deleting_an_event_is_named(committed_app, clock):
    ids = add_events(committed_app, 5)
    seal_all(committed_app)
    tamper(committed_app, ("DELETE FROM audit_events WHERE id = :id", {"id": ids[1]}))
    assert_fails_naming(verify(committed_app, clock), f"event {ids[1]} (seal #2) is missing")


def test_deleting_an_event_with_its_seal_is_named_by_its_neighbours(committed_app, clock):
    ids = add_events(committed_app, 5)
    seal_all(committed_app)
    tamper(committed_app, ("DELETE FROM audit_seals WHERE event_id = :id", {"id": ids[2]}),
           ("DELETE FROM audit_events WHERE id = :id", {"id": ids[2]}))
    assert_fails_naming(verify(committed_app, clock),
                        f"seal #3 missing: the event(s) sealed after event {ids[1]} and before event {ids[3]}")


def test_deleting_and_renumbering_the_chain_is_caught(committed_app, clock):
    ids = add_events(committed_app, 4)
    seal_all(committed_app)
    tamper(committed_app, ("DELETE FROM audit_seals WHERE event_id = :id", {"id": ids[1]}),
           ("DELETE FROM audit_events WHERE id = :id", {"id": ids[1]}),
           ("UPDATE audit_seals SET seq = seq - 1 WHERE seq > 2", {}))
    assert_fails_naming(verify(committed_app, clock), f"event {ids[2]} (seal #2)")


def test_inserting_an_event_is_refused_by_the_sealer_and_named(committed_app, clock):
    ids = add_events(committed_app, 3)
    seal_all(committed_app)
    fake_id = ids[-1] + 100
    # A plausible row: a genuine event's columns, another id, other details and a made-up MAC.
    tamper(committed_app, (
        "INSERT INTO audit_events (id, occurred_at, actor_user_id, actor_label, action, object_type, object_id, "
        "patient_id, details, client_address, nonce, mac) SELECT :fake, occurred_at, actor_user_id, actor_label, "
        "action, object_type, object_id, patient_id, details, client_address, :nonce, mac "
        "FROM audit_events WHERE id = :id", {"fake": fake_id, "nonce": b"\x07" * 16, "id": ids[0]}))
    later = add_events(committed_app, 1)
    with database(committed_app).new_session() as session:
        outcome = seal_pending(session)
        session.commit()
    assert outcome.refused == [fake_id] and outcome.sealed == 1
    assert [event for _, event in seals(committed_app)] == ids + later
    assert_fails_naming(verify(committed_app, clock), f"event {fake_id} is not sealed and does not match its MAC")


def test_a_copy_of_a_genuine_event_is_refused_by_the_database(committed_app):
    [event_id] = add_events(committed_app, 1)
    with pytest.raises(sa.exc.IntegrityError), database(committed_app).engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO audit_events (occurred_at, actor_user_id, actor_label, action, object_type, object_id, "
            "patient_id, details, client_address, nonce, mac) SELECT occurred_at, actor_user_id, actor_label, "
            "action, object_type, object_id, patient_id, details, client_address, nonce, mac "
            "FROM audit_events WHERE id = :id"), {"id": event_id})


SWAPPED = ("occurred_at", "actor_user_id", "actor_label", "action", "object_type", "object_id", "patient_id",
           "details", "client_address", "nonce", "mac")


def test_swapping_two_events_contents_is_named(committed_app, clock):
    """Every column but the id moves, MACs included: each row still matches its own MAC, but
    not the seal of its place in the chain."""
    ids = add_events(committed_app, 5)
    seal_all(committed_app)
    a, b = ids[1], ids[3]
    engine = database(committed_app).engine
    postgresql = engine.dialect.name == "postgresql"
    read = [("CAST(details AS TEXT) AS details" if column == "details" else column) for column in SWAPPED]
    with engine.connect() as connection:
        rows = {row.id: row._mapping for row in connection.execute(
            sa.text(f"SELECT id, {', '.join(read)} FROM audit_events WHERE id IN (:a, :b)"), {"a": a, "b": b})}
    assignments = ", ".join(f"{column} = CAST(:{column} AS json)" if column == "details" and postgresql
                            else f"{column} = :{column}" for column in SWAPPED)
    tamper(committed_app,
           ("UPDATE audit_events SET nonce = :n WHERE id = :id", {"n": b"\0" * 16, "id": a}),
           (f"UPDATE audit_events SET {assignments} WHERE id = :id",
            {**{column: rows[a][column] for column in SWAPPED}, "id": b}),
           (f"UPDATE audit_events SET {assignments} WHERE id = :id",
            {**{column: rows[b][column] for column in SWAPPED}, "id": a}))
    report = verify(committed_app, clock)
    assert_fails_naming(report, f"event {a} (seal #2) does not match its seal")
    assert any(f"event {b} (seal #4)" in problem for problem in report.problems)


def test_reordering_the_seals_is_named(committed_app, clock):
    ids = add_events(committed_app, 4)
    seal_all(committed_app)
    # Swap which event seals 2 and 3 point at (through a free value, event_id is unique).
    tamper(committed_app,
           ("UPDATE audit_seals SET event_id = :e WHERE seq = 3", {"e": ids[-1] + 1000}),
           ("UPDATE audit_seals SET event_id = :e WHERE seq = 2", {"e": ids[2]}),
           ("UPDATE audit_seals SET event_id = :e WHERE seq = 3", {"e": ids[1]}))
    assert_fails_naming(verify(committed_app, clock), f"event {ids[2]} (seal #2) does not match its seal")


def test_the_cli_prints_ok_or_names_the_event_and_exits_non_zero(committed_app, clock):
    ids = add_events(committed_app, 3)
    seal_all(committed_app)
    runner = committed_app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 3 events sealed and verified") and "events/s" in result.output
    tamper(committed_app, ("UPDATE audit_events SET object_id = 'x' WHERE id = :id", {"id": ids[1]}))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "FAILED: 1 problem(s)" in result.output and f"event {ids[1]} (seal #2)" in result.output


def test_the_scheduler_seals_the_chain(committed_app, clock):
    job = next(job for job in JOBS if job.name == "seal_audit_chain")
    assert job.interval_setting == "AUDIT_SEAL_SECONDS"
    add_events(committed_app, 12, per_commit=5)
    assert job.run(JobContext(committed_app), batch=5) == "sealed 12"
    assert job.run(JobContext(committed_app)) is None
    assert verify(committed_app, clock).ok


def test_two_sealers_and_many_writers_at_once_make_one_sound_chain(committed_app, clock):
    """Writers commit while two sealers run: every event is sealed exactly once, in one chain."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def sealer() -> None:
        while not stop.is_set():
            try:
                with database(committed_app).new_session() as session:
                    seal_pending(session, 7)
                    session.commit()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                return

    def writer(n: int) -> None:
        try:
            add_events(committed_app, 15, label=f"writer {n}", per_commit=3)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in sealers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in sealers:
        thread.join()
    assert not errors, errors
    seal_all(committed_app)
    chain = seals(committed_app)
    assert [seq for seq, _ in chain] == list(range(1, 61))
    assert len({event for _, event in chain}) == 60
    report = verify(committed_app, clock)
    assert report.ok and report.sealed == 60, report.problems


def postgresql_only(app) -> None:
    if database(app).dialect != "postgresql":
        pytest.skip("PostgreSQL only")


def test_a_second_sealer_skips_while_the_first_holds_the_lock(committed_app):
    postgresql_only(committed_app)
    add_events(committed_app, 3)
    db = database(committed_app)
    with db.new_session() as first, db.new_session() as second:
        assert seal_pending(first).sealed == 3
        assert seal_pending(second).busy
        first.commit()
        second.rollback()
        assert seal_pending(second).sealed == 0


def test_an_event_of_a_transaction_still_running_is_not_skipped(committed_app, clock):
    """The earlier id commits last: the sealer waits for it rather than sealing past it."""
    postgresql_only(committed_app)
    db = database(committed_app)
    slow = db.new_session()
    try:
        early = record(slow, Actor.system("slow"), AuditAction.PATIENT_LIST_READ)
        slow.flush()
        [late] = add_events(committed_app, 1)
        assert late > early.id
        assert seal_all(committed_app) == 0
        slow.commit()
    finally:
        slow.close()
    assert seal_all(committed_app) == 2
    assert [event for _, event in seals(committed_app)] == [early.id, late]
    assert verify(committed_app, clock).ok


@pytest.mark.parametrize("table, sql", [
    ("audit_events", "UPDATE audit_events SET details = '{}'"),
    ("audit_events", "DELETE FROM audit_events"),
    ("audit_events", "TRUNCATE audit_events CASCADE"),
    ("audit_seals", "UPDATE audit_seals SET hash = prev_hash"),
    ("audit_seals", "DELETE FROM audit_seals"),
    ("audit_seals", "TRUNCATE audit_seals"),
])
def test_postgresql_refuses_to_change_audit_rows(committed_app, table, sql):
    postgresql_only(committed_app)
    add_events(committed_app, 2)
    seal_all(committed_app)
    engine = database(committed_app).engine
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(sa.text(sql))
    with engine.connect() as connection:
        assert connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == 2


def test_the_migration_signs_events_written_before_the_chain(empty_database_url, clock, monkeypatch):
    monkeypatch.setenv("TELEHEALTH_PROFILE", "testing")
    migrate.upgrade(empty_database_url, revision="0005")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        for n in range(3):
            connection.execute(sa.text(
                "INSERT INTO audit_events (occurred_at, actor_label, action, details) VALUES (:at, 'system: old', "
                "'logout', :details)"), {"at": clock.now() - timedelta(days=1), "details": f'{{"z": 1, "n": {n}}}'})
    engine.dispose()
    migrate.upgrade(empty_database_url)
    from telehealth.app import create_app

    app = create_app("testing", overrides={"DATABASE_URL": empty_database_url})
    try:
        add_events(app, 2)
        assert seal_all(app) == 5
        assert [event for _, event in seals(app)][:3] == [1, 2, 3]
        report = verify(app, clock)
        assert report.ok and report.sealed == 5, report.problems
    finally:
        database(app).engine.dispose()


def test_the_database_builds_the_same_content_as_record_for_awkward_texts(committed_app, clock):
    """The verifier hashes content built by the database; record() signs content built in Python."""
    actor = Actor(user_id=None, role="system", label='Zoë: "quoted"\n界 3:x', client_address="")
    with database(committed_app).new_session() as session:
        record(session, actor, AuditAction.ACCESS_REFUSED, object_type="", object_id="-",
               details={"ü": "\u0000\n", "b": [1.5, None, True], "a": {"z": "é", "y": -0}})
        record(session, Actor.system("x"), AuditAction.LOGOUT, object_id=0, patient_id=None, details=None)
        session.commit()
    with database(committed_app).new_session() as session:
        outcome = seal_pending(session)
        session.commit()
    assert (outcome.sealed, outcome.refused) == (2, [])
    assert verify(committed_app, clock).ok


@pytest.mark.parametrize("removed", [2, 3, 4])
def test_a_chain_walked_in_segments_is_joined_exactly(committed_app, clock, monkeypatch, removed):
    """PostgreSQL walks long chains as two segments at once: a break at their joint is still named."""
    postgresql_only(committed_app)
    from telehealth.audit import verify as verify_module

    monkeypatch.setattr(verify_module, "SEGMENT_MIN_SEALS", 1)
    ids = add_events(committed_app, 6)
    seal_all(committed_app)
    report = verify(committed_app, clock)
    assert report.ok and (report.sealed, report.head_seq) == (6, 6), report.problems
    tamper(committed_app, ("DELETE FROM audit_seals WHERE seq = :seq", {"seq": removed}),
           ("DELETE FROM audit_events WHERE id = :id", {"id": ids[removed - 1]}))
    report = verify(committed_app, clock)
    assert_fails_naming(report, f"seal #{removed} missing: the event(s) sealed after event {ids[removed - 2]} "
                                f"and before event {ids[removed]}")
    assert report.sealed == 5 and report.head_seq == 6
