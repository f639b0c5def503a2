"""The audit log as compliance staff read and export it (SPEC §10: "audit log, reports: read,
export"): every event with who acted, from where, on what and which patient's record, its details,
and its place in the chain (the seal number, or that it awaits its seal).

Filters: the day it happened (clinic days), the patient, who acted (a user id) and the kind of
event. "Who looked at this patient's record?" is the patient filter with `patient.record_read`.
Ordered by event id, keyset-paged on it; the export streams the same query. Reading the log is
itself an audit event (with the patient when filtered on one).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from telehealth.accounts.models import Patient, User
from telehealth.audit import canonical
from telehealth.audit.models import AuditEvent, AuditSeal
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.listed import ListedReport

REPORT = "audit_log"
ALLOWED_FILTERS = frozenset({"start", "end", "patient", "actor", "action"})
HEADER = ("event", "occurred_on", "occurred_at_utc", "actor_user_id", "actor", "action", "object_type", "object_id",
          "patient_id", "patient", "client_address", "details", "seal")


@dataclass(frozen=True)
class Entry:
    event_id: int
    occurred_at: datetime
    occurred_on: date                # the clinic's calendar day
    actor_user_id: int | None
    actor: str                       # the login's name, or the label recorded (the system, an SMS sender)
    action: str
    object_type: str | None
    object_id: str | None
    patient_id: int | None
    patient: str | None
    client_address: str | None
    details: str                     # the details as stored (sorted JSON), the text the event's MAC covers
    seal: int | None                 # its place in the chain; None while it awaits its seal

    @property
    def key(self) -> int:
        return self.event_id

    @property
    def cells(self) -> tuple[Any, ...]:
        return (self.event_id, self.occurred_on, self.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"), self.actor_user_id,
                self.actor, self.action, self.object_type, self.object_id, self.patient_id, self.patient,
                self.client_address, self.details, self.seal)


def query(filters: ReportFilters, zone: ZoneInfo, page: Page | None = None) -> sa.Select:
    acting, patient_user = aliased(User), aliased(User)
    statement = (
        # Who acted: their name when a login acted (the label then only says "user 12"), else the
        # label recorded (the system's job, a sender by SMS).
        sa.select(AuditEvent.id, AuditEvent.occurred_at, AuditEvent.actor_user_id,
                  sa.func.coalesce(acting.full_name, AuditEvent.actor_label), AuditEvent.action,
                  AuditEvent.object_type, AuditEvent.object_id, AuditEvent.patient_id, patient_user.full_name,
                  AuditEvent.client_address, AuditEvent.details, AuditSeal.seq)
        .outerjoin(acting, acting.id == AuditEvent.actor_user_id)
        .outerjoin(Patient, Patient.id == AuditEvent.patient_id)
        .outerjoin(patient_user, patient_user.id == Patient.user_id)
        .outerjoin(AuditSeal, AuditSeal.event_id == AuditEvent.id)
        .where(*filters.conditions(patient=AuditEvent.patient_id, actor=AuditEvent.actor_user_id,
                                   action=AuditEvent.action, at=AuditEvent.occurred_at, zone=zone))
        .order_by(AuditEvent.id)
    )
    if page is not None:
        statement = statement.where(AuditEvent.id > (page.after or 0)).limit(page.size)
    return statement


def _entry(row: sa.Row, zone: ZoneInfo) -> Entry:
    (event_id, occurred_at, actor_user_id, actor, action, object_type, object_id, patient_id, patient,
     client_address, details, seal) = row
    return Entry(event_id, occurred_at, occurred_at.astimezone(zone).date(), actor_user_id, actor, action,
                 object_type, object_id, patient_id, patient, client_address, canonical.details_text(details), seal)


# Read a page, export it all (see `listed.ListedReport`: audited once per patient shown).
REPORT_LIST = ListedReport(REPORT, query, _entry, patient_column=AuditEvent.patient_id, batch=2000)
read_page = REPORT_LIST.read_page
export = REPORT_LIST.export
