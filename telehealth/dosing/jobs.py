"""The deadline sweep the scheduler runs every DEADLINE_SWEEP_SECONDS: each due deadline in a
transaction of its own, in due order, so one failure never holds back the rest."""
from __future__ import annotations

import logging
from collections import Counter

from telehealth.dosing import deadlines
from telehealth.dosing.operations import DosingSettings

log = logging.getLogger(__name__)


def sweep_deadlines(job, *, max_rounds: int = 20) -> dict[str, int]:  # noqa: ANN001
    settings = DosingSettings.from_config(job.config)
    tally: Counter[str] = Counter()
    for _ in range(max_rounds):
        with job.transaction() as session:
            due = deadlines.due_deadline_ids(session)
        if not due:
            break
        for deadline_id in due:
            try:
                with job.transaction() as session:
                    state = deadlines.process(session, settings, deadline_id)
            except Exception:
                log.exception("deadline %s could not be handled; it stays pending for the next sweep", deadline_id)
                tally["failed"] += 1
                continue
            if state is not None:
                tally[state.value] += 1
        if len(due) < 500:
            break
    return dict(tally)
