"""The paging tick: advance every due escalation by one step, each in its own transaction."""
from __future__ import annotations

from telehealth.escalations import operations
from telehealth.escalations.operations import EscalationSettings


def advance_escalations(job) -> dict[str, int]:  # noqa: ANN001
    settings = EscalationSettings.from_config(job.config)
    with job.transaction() as session:
        due = operations.due_escalation_ids(session)
    pages = 0
    for escalation_id in due:
        with job.transaction() as session:
            pages += operations.advance_escalation(session, settings, escalation_id)
    return {"escalations": len(due), "pages": pages} if due else {}
