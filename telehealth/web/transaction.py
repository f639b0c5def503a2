"""The web's single commit point.

A request whose view returned commits once, after the view. A request that raised (a refusal,
a broken rule, a crash) rolls back everything it did, so bad input changes nothing; only the
records that must outlive the failure (the audit of a refusal) are then written and committed.
"""
from __future__ import annotations

from typing import Callable

from flask import Flask, Response, g
from sqlalchemy.orm import Session

from telehealth.db import get_session


def init_transactions(app: Flask) -> None:
    app.after_request(_commit_or_roll_back)


def mark_failed() -> None:
    g.request_failed = True


def write_after_rollback(write: Callable[[Session], object]) -> None:
    """Queue a write (say, an audit event) that must be committed even though the request failed."""
    g.setdefault("after_rollback", []).append(write)


def _commit_or_roll_back(response: Response) -> Response:
    session: Session | None = g.get("db_session")
    if session is None and g.get("after_rollback"):
        # Refused before it touched the database (a forged webhook): the refusal is still written.
        session = get_session()
    if session is None:
        return response
    if g.get("request_failed"):
        session.rollback()
        writes = g.pop("after_rollback", [])
        for write in writes:
            write(session)
        if writes:
            session.commit()
    else:
        session.commit()
    return response
