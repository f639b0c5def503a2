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
from typing import Any, Iterator, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from telehealth.accounts.models import Patient, User
from telehealth.actor import Actor
from telehealth.audit import canonical
from telehealth.audit.models import AuditEvent, AuditSeal
from telehealth.compliance.export import keyset_batches, released
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.operations import audit_read, ensure_compliance

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


def read_page(session: Session, actor: Actor, filters: ReportFilters, page: Page, zone: ZoneInfo) -> list[Entry]:
    """One page of the log, after the event `page.after`. Compliance only; the read is audited,
    once per patient it names."""
    ensure_compliance(actor, REPORT)
    entries = _entries(session, filters, zone, page)
    audit_read(session, actor, REPORT, filters, page=page, patients=[entry.patient_id for entry in entries])
    return entries


def _entries(session: Session, filters: ReportFilters, zone: ZoneInfo, page: Page) -> list[Entry]:
    return [_entry(row, zone) for row in session.execute(query(filters, zone, page))]


def export(session: Session, actor: Actor, filters: ReportFilters, zone: ZoneInfo,
           batch: int = 2000) -> Iterator[Sequence[Any]]:
    """Every matching event as CSV cells, a keyset batch at a time as the caller iterates (never all
    in memory; see `export.released`). Compliance only; the export is audited at once, once per
    patient it names."""
    ensure_compliance(actor, REPORT)
    patients = session.scalars(query(filters, zone).with_only_columns(AuditEvent.patient_id).distinct()
                               .order_by(None))
    audit_read(session, actor, REPORT, filters, exported=True, patients=list(patients))
    batches = keyset_batches(lambda page: _entries(session, filters, zone, page), lambda entry: entry.event_id, batch)
    return released(session, batches, lambda entry: entry.cells)
