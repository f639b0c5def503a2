import os

import sqlalchemy as sa


def test_the_suite_runs_on_the_database_it_was_given(app, session):
    """The PostgreSQL run must really be on PostgreSQL, not quietly on the SQLite default."""
    wanted = "postgresql" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql") else "sqlite"
    assert session.get_bind().dialect.name == wanted
    if wanted == "sqlite":
        # The embedded default's safety settings are on for every connection.
        assert session.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
