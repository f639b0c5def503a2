"""Escalation statistics (issue 7): how many, by reason, by severity and per prescriber, and how
long they waited for a human to acknowledge them.

- Which escalations: opened on the days of the range (clinic days); per prescriber means the
  patient's prescriber of record (`patients.prescriber_id`), which is also what the prescriber
  filter matches. Escalations have no lot: a lot filter is refused.
- Acknowledged, and the time it took: at the escalation's present severity. An escalation raised
  to a higher severity pages afresh from that moment (`paging_started_at`, which is its opening
  otherwise) and needs acknowledging again: until then it is not acknowledged, though an earlier
  acknowledgement is kept (`acknowledged_at` then predates `paging_started_at`). Time to
  acknowledge = `acknowledged_at - paging_started_at`, in seconds, over the acknowledged ones.
- Median and 90th percentile are continuous percentiles (interpolated between the two nearest
  values, as PostgreSQL's `percentile_cont`). PostgreSQL computes them with `percentile_cont`;
  SQLite has no such aggregate, so there the same definition is computed with window functions
  (rank within the group, then interpolate). Both give the same figures (the tests run on both).
  Mean and max are plain aggregates.

Small by nature (a line per reason, severity and prescriber): not paged; the CSV holds the same
lines with their group's name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth.accounts.models import Patient, User
from telehealth.actor import Actor
from telehealth.compliance.filters import ReportFilters
from telehealth.compliance.operations import audit_read
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason, Severity

REPORT = "escalation_statistics"
ALLOWED_FILTERS = frozenset({"start", "end", "prescriber", "patient"})
GROUPS = ("all", "severity", "reason", "prescriber")
HEADER = ("group", "value", "escalations", "acknowledged", "resolved", "ack_median_seconds", "ack_p90_seconds",
          "ack_mean_seconds", "ack_max_seconds")


@dataclass(frozen=True)
class StatLine:
    group: str            # all, severity, reason or prescriber
    value: str            # the severity, the reason, the prescriber's name; "all"
    escalations: int
    acknowledged: int
    resolved: int
    median: float | None  # seconds to acknowledge
    p90: float | None
    mean: float | None
    max: float | None

    @property
    def label(self) -> str:
        if self.group == "reason":
            return Reason(self.value).label
        return self.value

    @property
    def cells(self) -> tuple[Any, ...]:
        return (self.group, self.value, self.escalations, self.acknowledged, self.resolved, self.median, self.p90,
                self.mean, self.max)


# Acknowledged at its present severity (see the module's docstring).
ACKNOWLEDGED = sa.and_(Escalation.acknowledged_at.is_not(None),
                       Escalation.acknowledged_at >= Escalation.paging_started_at)


def _seconds(dialect: str) -> sa.ColumnElement[float]:
    """Seconds from paging at the present severity to its acknowledgement; NULL when not acknowledged."""
    if dialect == "postgresql":
        waited = sa.extract("epoch", Escalation.acknowledged_at - Escalation.paging_started_at)
    else:
        waited = (sa.func.julianday(Escalation.acknowledged_at)
                  - sa.func.julianday(Escalation.paging_started_at)) * 86400.0
    return sa.case((ACKNOWLEDGED, waited))


def _group_column(group: str) -> sa.ColumnElement[Any]:
    return {"all": sa.literal("all"), "severity": Escalation.severity, "reason": Escalation.reason,
            "prescriber": Patient.prescriber_id}[group]


def _base(statement: sa.Select, filters: ReportFilters, zone: ZoneInfo) -> sa.Select:
    statement = statement.select_from(Escalation).join(Patient, Patient.id == Escalation.patient_id)
    return statement.where(*filters.conditions(prescriber=Patient.prescriber_id, patient=Escalation.patient_id,
                                                at=Escalation.opened_at, zone=zone))


def _percentiles_portable(group: str, filters: ReportFilters, zone: ZoneInfo, dialect: str) -> sa.Subquery:
    """percentile_cont(0.5) and (0.9) per group, with window functions (for SQLite)."""
    key = _group_column(group).label("group_key")
    seconds = _seconds(dialect)
    ranked = _base(sa.select(key, seconds.label("seconds"),
                             (sa.func.row_number().over(partition_by=key, order_by=seconds) - 1).label("rank"),
                             sa.func.count().over(partition_by=key).label("n")), filters, zone) \
        .where(ACKNOWLEDGED).subquery("ranked")

    def percentile(fraction: float) -> sa.ColumnElement[float]:
        position = fraction * (ranked.c.n - 1)
        lower = sa.cast(position, sa.Integer)
        weight = position - lower
        return sa.func.sum(sa.case((ranked.c.rank == lower, ranked.c.seconds * (1 - weight)),
                                   (ranked.c.rank == lower + 1, ranked.c.seconds * weight), else_=0))
    return sa.select(ranked.c.group_key, percentile(0.5).label("median"), percentile(0.9).label("p90")) \
        .group_by(ranked.c.group_key).subquery("percentiles")


def _grouped(statement: sa.Select, group: str, key: sa.ColumnElement[Any]) -> sa.Select:
    # "all" is one line over everything: no GROUP BY (PostgreSQL refuses to group by a constant).
    return statement if group == "all" else statement.group_by(key)


def _group_lines(session: Session, group: str, filters: ReportFilters, zone: ZoneInfo) -> list[StatLine]:
    dialect = session.get_bind().dialect.name
    key = _group_column(group).label("group_key")
    seconds = _seconds(dialect)
    columns = [key, sa.func.count().label("escalations"), sa.func.count(seconds).label("acknowledged"),
               sa.func.count(Escalation.resolved_at).label("resolved"), sa.func.avg(seconds).label("mean"),
               sa.func.max(seconds).label("max")]
    if dialect == "postgresql":
        columns += [sa.func.percentile_cont(0.5).within_group(seconds).label("median"),
                    sa.func.percentile_cont(0.9).within_group(seconds).label("p90")]
        statement = _grouped(_base(sa.select(*columns), filters, zone), group, key)
    else:
        counts = _grouped(_base(sa.select(*columns), filters, zone), group, key).subquery("counts")
        percentiles = _percentiles_portable(group, filters, zone, dialect)
        statement = sa.select(counts, percentiles.c.median, percentiles.c.p90).select_from(
            counts.outerjoin(percentiles, percentiles.c.group_key == counts.c.group_key))
    rows = session.execute(statement).all()
    names: dict[Any, str] = {}
    if group == "prescriber" and rows:
        names = dict(session.execute(sa.select(User.id, User.full_name)
                                     .where(User.id.in_([row.group_key for row in rows]))).all())
    lines = []
    for row in rows:
        value = row.group_key
        value = names.get(value, str(value)) if group == "prescriber" else getattr(value, "value", value)
        lines.append(StatLine(group, str(value), row.escalations, row.acknowledged, row.resolved,
                              *(None if row._mapping[name] is None else round(float(row._mapping[name]), 1)
                                for name in ("median", "p90", "mean", "max"))))
    return sorted(lines, key=_order)


def _order(line: StatLine) -> tuple[Any, ...]:
    if line.group == "severity":
        return (-Severity(line.value).rank,)
    return (-line.escalations, line.value)


def statistics(session: Session, actor: Actor, filters: ReportFilters, zone: ZoneInfo, *,
               exported: bool = False) -> dict[str, list[StatLine]]:
    """Every group's lines (one aggregate query per group). Compliance only; audited."""
    audit_read(session, actor, REPORT, filters, exported=exported)
    return {group: _group_lines(session, group, filters, zone) for group in GROUPS}


def export(session: Session, actor: Actor, filters: ReportFilters, zone: ZoneInfo) -> Iterator[tuple[Any, ...]]:
    found = statistics(session, actor, filters, zone, exported=True)
    return (line.cells for group in GROUPS for line in found[group])
