"""Database plumbing: the declarative base, column types that carry invariants, the engine
and the session factory.

Operations receive a `Session` and never commit; the three commit points are the web request
wrapper (`telehealth.web.transaction`), the job runner and the CLI.
"""
from __future__ import annotations

import enum
import functools
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Stable constraint names on every database, so Alembic diffs and batch migrations on
# SQLite can name what they change.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator):
    """An aware UTC datetime on every database.

    SQLite drops the offset of `DateTime(timezone=True)` and hands back naive values; this
    type refuses naive input, stores UTC and re-attaches UTC on load.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


E = TypeVar("E", bound=enum.Enum)


def enum_column(enum_class: type[E], name: str) -> sa.Enum:
    """A portable enum: stored as its value in a VARCHAR with a named CHECK constraint."""
    return sa.Enum(enum_class, name=name, native_enum=False, create_constraint=True,
                   length=max(len(m.value) for m in enum_class),
                   values_callable=lambda members: [m.value for m in members],
                   validate_strings=True)


def insert_unless_present(session: Session, model: type[Base], *, conflict_column: str,
                          values: dict[str, Any]) -> Any | None:
    """INSERT ... ON CONFLICT DO NOTHING on either database. Returns the new row's primary key,
    or None when a row with the same `conflict_column` value exists (or is being inserted by a
    concurrent transaction, which this one then waits for)."""
    statement = _insert_unless_present(model.__table__, tuple(sorted(values)), conflict_column)
    return session.execute(statement, values).scalar()


@functools.lru_cache(maxsize=32)
def _insert_unless_present(table: sa.Table, columns: tuple[str, ...], conflict_column: str) -> sa.TextClause:
    """The statement, written once per shape. Both dialects' `insert().on_conflict_do_nothing()`
    have no cache key, so SQLAlchemy would compile them again for every inbound SMS; this text,
    with each parameter typed as its column (enums, UTC times), is compiled once. The same SQL
    runs on PostgreSQL and SQLite (3.35+)."""
    key = table.primary_key.columns[0]
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)}) "
           f"ON CONFLICT ({conflict_column}) DO NOTHING RETURNING {key.name}")
    return sa.text(sql).bindparams(*[sa.bindparam(c, type_=table.c[c].type) for c in columns]) \
        .columns(sa.column(key.name, key.type))


def create_engine(url: str, **kwargs: Any) -> sa.Engine:
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL, a busy timeout, enforced foreign keys, and `BEGIN IMMEDIATE` transactions.

    pysqlite's own transaction handling is switched off so SQLAlchemy decides when a
    transaction begins (savepoints then work too). IMMEDIATE takes the write lock up front:
    deferred transactions that later write fail with "database is locked" under concurrency.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and session factory of one app, kept in `app.extensions["db"]`."""

    def __init__(self, url: str):
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite") and ":memory:" in url:
            # One shared connection, or every request would see its own empty database.
            kwargs["poolclass"] = sa.pool.StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        elif url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False}
            path = sa.engine.make_url(url).database
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self) -> Session:
        return self.sessions()


def init_db(app: Flask) -> None:
    app.extensions["db"] = Database(app.config["DATABASE_URL"])
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    return (app or current_app).extensions["db"]


def get_session() -> Session:
    """The session of the current request or CLI command, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().new_session()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
