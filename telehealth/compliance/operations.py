"""What every compliance report shares: who may read it, and the audit event of each read and
export (the report's name and the filters used, so "who looked at what" has one answer)."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy.orm import Session

from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record_for_each_patient
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.errors import NotAllowed


def ensure_compliance(actor: Actor, report: str) -> None:
    """SPEC §10: reports and the audit log are compliance staff's alone; admins see no clinical data."""
    if actor.role != "compliance":
        raise NotAllowed("Compliance reports are for compliance staff.", object_type="report", object_id=report)


def audit_read(session: Session, actor: Actor, report: str, filters: ReportFilters, *, page: Page | None = None,
               exported: bool = False, patients: Iterable[int | None] | None = None, **details: Any) -> None:
    """Refuse anyone but compliance staff, then record the read (or export) with its filters.

    A report that names patients passes `patients`, those it showed: one event per patient, so
    the read shows among each one's record reads ("who looked at this patient?"), and one without
    a patient when it showed none. A report that names nobody (per lot, statistics) records one
    event, carrying the patient it was filtered on, if any."""
    ensure_compliance(actor, report)
    shown: dict[str, Any] = {"report": report, "filters": filters.as_details(), **details}
    if page is not None:
        shown["page"] = {"after": page.after, "size": page.size}
    named = None if patients is None else sorted({p for p in patients if p is not None})
    record_for_each_patient(session, actor, AuditAction.REPORT_EXPORTED if exported else AuditAction.REPORT_READ,
                            [filters.patient_id] if named is None else named or [None],
                            object_type="report", object_id=report, details=shown)
