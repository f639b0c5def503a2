from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from telehealth.accounts.models import LoginAttempt


def test_aware_times_come_back_aware_in_utc(session):
    chicago = datetime(2026, 3, 8, 1, 30, tzinfo=ZoneInfo("America/Chicago"))
    session.add(LoginAttempt(attempted_at=chicago, email="a@b.org", client_address="127.0.0.1", succeeded=False))
    session.commit()
    session.expire_all()
    stored = session.scalar(sa.select(LoginAttempt.attempted_at))
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 3, 8, 7, 30, tzinfo=timezone.utc)


def test_times_compare_correctly_across_zones_in_queries(session):
    session.add(LoginAttempt(attempted_at=datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc), email="a@b.org",
                             client_address="x", succeeded=False))
    session.commit()
    # 13:00 in Paris is 12:00 UTC: an hour later in Paris is strictly after.
    paris = ZoneInfo("Europe/Paris")
    later = datetime(2026, 1, 1, 13, 1, tzinfo=paris)
    earlier = datetime(2026, 1, 1, 12, 59, tzinfo=paris)
    assert session.scalar(sa.select(sa.func.count()).where(LoginAttempt.attempted_at < later)) == 1
    assert session.scalar(sa.select(sa.func.count()).where(LoginAttempt.attempted_at < earlier)) == 0


def test_naive_times_are_refused(session):
    session.add(LoginAttempt(attempted_at=datetime(2026, 1, 1, 12, 0), email="a@b.org", client_address="x",
                             succeeded=False))
    with pytest.raises(StatementError, match="naive"):
        session.flush()
