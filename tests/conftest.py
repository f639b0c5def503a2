"""Shared fixtures.

The database is SQLite by default and PostgreSQL when `TEST_DATABASE_URL` says so (the test
command runs the suite on both). The schema is built by the real migrations once per run; each
test then runs inside one outer transaction that is rolled back, with the app's sessions joined
to it through savepoints (SQLAlchemy's "join a session into an external transaction" recipe).
"""
from __future__ import annotations

import os
import re
import socket
from datetime import date, datetime, timezone
from itertools import count
from pathlib import Path

import pytest
import sqlalchemy as sa

from telehealth import clock as clock_module
from telehealth import migrate
from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.app import create_app
from telehealth.db import create_engine, database

# The fake Twilio REST server's fixture (`fake_twilio`), for every test module.
pytest_plugins = ["tests.fakes.twilio_server"]

START = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
PASSWORD = "correct horse battery"


def reset_database(url: str) -> None:
    """An empty database for a new run: drop whatever an earlier run left."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        return
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL") or \
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'telehealth-test.sqlite3'}"
    reset_database(url)
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def app(database_url: str):
    app = create_app("testing", overrides={"DATABASE_URL": database_url})
    yield app
    database(app).engine.dispose()


@pytest.fixture(autouse=True)
def clock():
    """Every test starts at the same instant and moves time only on purpose."""
    frozen = clock_module.FrozenClock(START)
    previous = clock_module.install(frozen)
    yield frozen
    clock_module.install(previous)


@pytest.fixture
def connection(app):
    db = database(app)
    connection = db.engine.connect()
    outer = connection.begin()
    db.sessions.configure(bind=connection, join_transaction_mode="create_savepoint")
    yield connection
    db.sessions.configure(bind=db.engine, join_transaction_mode="conservative_savepoint")
    outer.rollback()
    connection.close()


@pytest.fixture
def session(app, connection):
    """A session on the test's transaction, for arranging data and checking results."""
    session = database(app).new_session()
    yield session
    session.close()


@pytest.fixture
def policy(app):
    return app.extensions["account_policy"]


@pytest.fixture
def client(app, connection):
    return app.test_client()


class Builder:
    """Makes users and patients with sensible invented defaults; every phone is a fictional 555-01xx."""

    def __init__(self, session, policy):
        self.session, self.policy = session, policy
        self._numbers = count(1)

    def _next(self) -> int:
        return next(self._numbers)

    def phone(self) -> str:
        # 201-555-0100..0199 are fictional; tests stay within them (the seed uses 0101-0123).
        return f"+1201555{150 + self._next():04d}"

    def user(self, role: Role | str = Role.PRESCRIBER, *, email: str | None = None, name: str | None = None,
             phone: str | None = None, password: str = PASSWORD, active: bool = True):
        role = Role(role)
        n = self._next()
        user = accounts.create_user(
            self.session, Actor.system("test"), self.policy, email=email or f"{role.value}{n}@clinic.example.org",
            full_name=name or f"{role.value.capitalize()} Person{n}", role=role, password=password,
            phone=phone or (self.phone() if role in (Role.PRESCRIBER, Role.PATIENT) else None))
        user.active = active
        self.session.commit()
        return user

    def patient(self, prescriber, backup=None, *, name: str | None = None, password: str = PASSWORD,
                timezone_name: str = "America/Chicago"):
        n = self._next()
        patient = accounts.enrol_patient(
            self.session, Actor.system("test"), self.policy, email=f"patient{n}@mail.example.org",
            full_name=name or f"Pat Patient{n}", phone=self.phone(), date_of_birth=date(1985, 1, 1),
            address_line1=f"{n} Elm Street", city="Springfield", region="IL", postal_code="62701",
            timezone=timezone_name, prescriber_id=prescriber.id,
            backup_prescriber_id=backup.id if backup else None, password=password)
        self.session.commit()
        return patient


@pytest.fixture
def make(session, policy) -> Builder:
    return Builder(session, policy)


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF_INPUT.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client, email: str, password: str = PASSWORD, address: str = "127.0.0.1"):
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": address})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def empty_database_url(database_url, tmp_path):
    """A fresh, empty database of the run's kind, for tests that need committed data seen by
    other connections or processes (concurrency, subprocesses). Dropped afterwards."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    name = f"telehealth_scratch_{os.getpid()}_{next(_scratch_numbers)}"
    server = database_url.rsplit("/", 1)[0]
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


_scratch_numbers = count(1)


@pytest.fixture
def scratch_database_url(empty_database_url):
    """A fresh database with the schema migrated to the newest revision."""
    migrate.upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def committed_app(scratch_database_url):
    """An app on its own fresh database, where commits are real: for concurrency tests."""
    app = create_app("testing", overrides={"DATABASE_URL": scratch_database_url})
    yield app
    database(app).engine.dispose()
