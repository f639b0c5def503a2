"""A CSV download read slowly holds no lock: on SQLite every transaction is BEGIN IMMEDIATE (the
write lock), so an export that kept its read transaction open while streaming would stop every
check-in and webhook of the clinic for as long as the download lasts."""
import sqlite3

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.db import database
from tests.conftest import Builder
from tests.flows.api import token_for
from tests.integration import compliance_world


@pytest.fixture
def world_app(committed_app, clock):
    if not committed_app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite write lock")
    session = database(committed_app).new_session()
    make = Builder(session, committed_app.extensions["account_policy"])
    compliance_world.build(session, make, committed_app, clock)
    officer = make.user(Role.COMPLIANCE)
    session.close()
    return committed_app, officer


def can_write(app) -> bool:
    path = sa.engine.make_url(app.config["DATABASE_URL"]).database
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


def mid_download(app, officer, url):
    client = app.test_client()
    headers = token_for(client, officer)
    response = client.get(url, headers=headers, buffered=False)
    assert response.status_code == 200
    lines = iter(response.response)
    next(lines), next(lines)   # the header and the first row: the client is reading slowly
    return response


@pytest.mark.parametrize("url", ["/api/v1/compliance/dispensing-log.csv",
                                 "/api/v1/compliance/reconciliation/prescriptions.csv",
                                 "/api/v1/compliance/reconciliation/lots.csv",
                                 "/api/v1/compliance/escalation-statistics.csv",
                                 "/api/v1/compliance/audit-log.csv"])
def test_a_download_in_progress_leaves_the_database_writable(world_app, url):
    app, officer = world_app
    response = mid_download(app, officer, url)
    try:
        assert can_write(app)
    finally:
        response.close()
