"""What a report listed row by row shares (the dispensing log, the audit log): one SELECT in key
order, read a keyset page at a time; a page read is audited once per patient it shows, an export
once per patient it names (found by one DISTINCT query) before its lines stream a batch at a time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Protocol, Sequence, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth.actor import Actor
from telehealth.compliance.export import keyset_batches, released
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.operations import audit_read, ensure_compliance


class Listed(Protocol):
    @property
    def key(self) -> int: ...
    @property
    def patient_id(self) -> int | None: ...
    @property
    def cells(self) -> tuple[Any, ...]: ...


E = TypeVar("E", bound=Listed)


@dataclass(frozen=True)
class ListedReport(Generic[E]):
    name: str                                                              # as audited
    query: Callable[[ReportFilters, ZoneInfo, Page | None], sa.Select]     # key order; a page when given
    entry: Callable[[sa.Row, ZoneInfo], E]
    patient_column: sa.ColumnElement[Any]                                  # whose record a row shows
    batch: int = 1000                                                      # rows per batch of an export

    def read_page(self, session: Session, actor: Actor, filters: ReportFilters, page: Page,
                  zone: ZoneInfo) -> list[E]:
        """One page, after the key `page.after`. Compliance only; audited once per patient shown."""
        ensure_compliance(actor, self.name)
        entries = self._entries(session, filters, zone, page)
        audit_read(session, actor, self.name, filters, page=page, patients=[entry.patient_id for entry in entries])
        return entries

    def export(self, session: Session, actor: Actor, filters: ReportFilters, zone: ZoneInfo,
               batch: int | None = None) -> Iterator[Sequence[Any]]:
        """Every matching row as CSV cells, a keyset batch at a time as the caller iterates (never all
        in memory; see `export.released`). Compliance only; audited at once, once per patient named."""
        ensure_compliance(actor, self.name)
        patients = session.scalars(self.query(filters, zone, None).with_only_columns(self.patient_column)
                                   .distinct().order_by(None))
        audit_read(session, actor, self.name, filters, exported=True, patients=list(patients))
        batches = keyset_batches(lambda page: self._entries(session, filters, zone, page),
                                 lambda entry: entry.key, batch or self.batch)
        return released(session, batches, lambda entry: entry.cells)

    def _entries(self, session: Session, filters: ReportFilters, zone: ZoneInfo, page: Page) -> list[E]:
        return [self.entry(row, zone) for row in session.execute(self.query(filters, zone, page))]
