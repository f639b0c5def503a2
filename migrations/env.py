"""Alembic environment. Run through `flask --app wsgi db upgrade` (see telehealth/migrate.py),
which hands over either a connection (tests) or the app's database URL."""
from __future__ import annotations

from alembic import context

from telehealth.db import create_engine
from telehealth.models import metadata

config = context.config


def run_migrations(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="telehealth.db.",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()
