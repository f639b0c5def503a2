"""The migrations build exactly the schema the models describe, on this run's database."""
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from telehealth import migrate
from telehealth.db import create_engine
from telehealth.models import metadata


def schema_differences(connection: sa.Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


def test_models_and_migrations_agree(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert schema_differences(connection) == []
    engine.dispose()


def test_a_model_change_without_a_migration_is_caught(database_url):
    """The check above can fail: a column added to the models but not migrated shows up."""
    engine = create_engine(database_url)
    table = metadata.tables["users"]
    extra = sa.Column("shoe_size", sa.Integer())
    table.append_column(extra)
    try:
        with engine.connect() as connection:
            differences = schema_differences(connection)
    finally:
        table._columns.remove(extra)
        engine.dispose()
    assert any(diff[0] == "add_column" and diff[3].name == "shoe_size" for diff in differences)


def test_migrations_go_down_to_nothing_and_up_again(empty_database_url):
    url = empty_database_url
    migrate.upgrade(url)
    migrate.downgrade(url, revision="base")
    engine = create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert schema_differences(connection) == []
    engine.dispose()
