"""The one place that reads the time.

Domain code calls `clock.now()`; tests install a `FrozenClock` and walk a whole treatment
course in milliseconds. Every value is an aware datetime in UTC.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, at: datetime):
        self._at = ensure_utc(at)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._at += delta if delta is not None else timedelta(**kwargs)
        return self._at

    def set(self, at: datetime) -> None:
        self._at = ensure_utc(at)


_current: Clock = SystemClock()


def now() -> datetime:
    return _current.now()


def install(clock: Clock) -> Clock:
    """Replace the clock; returns the previous one so a test can put it back."""
    global _current
    previous, _current = _current, clock
    return previous


def ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: every time in this service carries a time zone")
    return value.astimezone(timezone.utc)
