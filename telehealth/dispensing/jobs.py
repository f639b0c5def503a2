"""The receipt-overdue sweep: a delivered package not counted by the patient in time becomes a
compliance escalation, once, whichever scheduler process gets to it first."""
from __future__ import annotations

from telehealth.dispensing import operations
from telehealth.dispensing.operations import DispensingSettings


def escalate_overdue_receipts(job) -> dict[str, int]:  # noqa: ANN001
    settings = DispensingSettings.from_config(job.config)
    with job.transaction() as session:
        due = operations.overdue_receipt_ids(session, settings)
    escalated = 0
    for shipment_id in due:
        with job.transaction() as session:
            escalated += operations.escalate_overdue_receipt(session, settings, shipment_id)
    return {"overdue receipts": escalated} if escalated else {}
