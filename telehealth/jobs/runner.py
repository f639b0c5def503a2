"""The jobs' commit point: each job step runs in a transaction of its own, committed once."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

from flask import Flask
from sqlalchemy.orm import Session

from telehealth.db import database

log = logging.getLogger(__name__)


class JobContext:
    """What a job gets: the app's settings and a way to open a committed transaction."""

    def __init__(self, app: Flask):
        self.app = app
        self.config = app.config

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        session = database(self.app).new_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def run_job(app: Flask, name: str, job) -> object:  # noqa: ANN001
    """Run one job once, logging what it did; an error is logged, never kills the scheduler."""
    with app.app_context():
        try:
            outcome = job(JobContext(app))
        except Exception:
            log.exception("job %s failed", name)
            return None
        if outcome:
            log.info("job %s: %s", name, outcome)
        return outcome
