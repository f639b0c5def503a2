from datetime import datetime, timedelta, timezone

import pytest

from telehealth.clock import FrozenClock, ensure_utc


def test_frozen_clock_moves_only_when_told():
    clock = FrozenClock(datetime(2026, 3, 8, 6, 0, tzinfo=timezone.utc))
    assert clock.now() == clock.now()
    clock.advance(minutes=30)
    assert clock.now() == datetime(2026, 3, 8, 6, 30, tzinfo=timezone.utc)
    clock.advance(timedelta(hours=2))
    assert clock.now().hour == 8


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        ensure_utc(datetime(2026, 1, 1, 12, 0))


def test_other_zones_are_converted_to_utc():
    from zoneinfo import ZoneInfo
    chicago = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
    assert ensure_utc(chicago) == datetime(2026, 1, 1, 15, 0, tzinfo=timezone.utc)
    assert ensure_utc(chicago).tzinfo is timezone.utc
