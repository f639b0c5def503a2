"""Reconciliation per prescription and per lot (SPEC §8), computed by the database from the ledger.

Definitions (one place for each fact; the README repeats them):

- Which prescription a ledger line belongs to. The ledger is kept per patient and lot
  (`inventory_movements`); a patient's lot belongs to the prescription under which that lot was
  dispensed to that patient. When more than one prescription dispensed the same lot to the same
  patient (a renewal filled from the lot in use), each line of that lot is told apart: a receipt
  belongs to its shipment's prescription, any other line to the latest fill of that lot to that
  patient at or before it (the earliest fill if none was). Only those rare pairs pay for that
  lookup. Ledger lines of a lot never dispensed to the patient (none exist: a lot reaches a
  ledger only through a shipment) would appear in neither report.
- Prescribed: the prescription's quantity per fill times its fills (1 + refills). A lot is not
  prescribed: blank per lot.
- Dispensed: the dispensings of the prescription (or of the lot) on the days of the range.
- Received, taken, wasted, returned: ledger lines of that kind on the days of the range, as
  positive numbers; corrected: corrections (signed) on those days.
- Opening on hand: the ledger's sum before the first day; expected on hand: the ledger's sum up
  to the end of the last day, i.e. opening + received - taken - wasted - returned + corrected.
  The same sum as `dispensing.inventory.on_hand_by_lot` (every kind but a reported count).
- Last reported on hand: the patient's latest count (`count_reported`) on the days of the range.
  A count covers everything the patient holds (`rules.ALL_LOTS`), so it is tied to a
  prescription or a lot only when, just before the count, the patient's ledger held that one
  only (or held nothing, and had only ever held that one); otherwise it is left out, and the
  count columns stay blank. Per lot, the counts tied to it are summed over its patients.
- Expected at that count: the patient's ledger sum over every line written before the count
  (by id: the ledger is append-only), exactly what `inventory.report_count` compared the count
  with when it was reported. Discrepancy = last reported - expected at that count: negative
  means fewer found than the ledger says (missing), positive more.

Shape of the query: one pass over the ledger lines in scope, grouped by (patient, lot), gives
every sum and, per patient, what was held just before their latest count; a second, small level
groups those by prescription or lot. A page first picks its prescriptions (or lots) by keyset,
so the pass reads only their patients' lines; the CSV export runs the same query over every
prescription or lot and streams it.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from telehealth.accounts.models import Patient, User
from telehealth.actor import Actor
from telehealth.compliance.export import keyset_batches, released
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.operations import audit_read, ensure_compliance
from telehealth.dispensing.models import Dispensing, InventoryMovement, MovementKind, Shipment
from telehealth.prescriptions.models import Prescription


class Grouping(enum.Enum):
    PRESCRIPTION = "prescription"
    LOT = "lot"


# Prescriptions (or lots) per page of an export. Each page is one query over its patients' ledger,
# and the whole page is held while its lines go out (a report line is small: 20,000 of them are a
# few MB). Measured over 1M ledger rows and 16,668 prescriptions: one page 1.15 s, pages of 5,000
# 1.54 s (bench/reconciliation.py).
EXPORT_BATCH = 20000
REPORT = {Grouping.PRESCRIPTION: "reconciliation_by_prescription", Grouping.LOT: "reconciliation_by_lot"}


FLOWS = ("opening", "received", "taken", "wasted", "returned", "corrected", "expected")
HEADER = {
    Grouping.PRESCRIPTION: ("prescription", "patient", "prescriber", "drug", "strength_mg", "issued_on",
                            "prescribed", "dispensed", *FLOWS[:-1], "expected_on_hand", "last_reported_on_hand",
                            "reported_at", "expected_at_report", "discrepancy"),
    Grouping.LOT: ("lot", "lot_expiry", "patients", "dispensed", *FLOWS[:-1], "expected_on_hand",
                   "last_reported_on_hand", "counts_tied_to_lot", "reported_at", "expected_at_report",
                   "discrepancy"),
}


@dataclass(frozen=True)
class Line:
    """One row of the report. `key` is the keyset key: the prescription id, or the lot's first
    dispensing id."""

    key: int
    values: dict[str, Any]


M = InventoryMovement.__table__
D = Dispensing.__table__
P = Prescription.__table__


def _line_prescription() -> sa.ColumnElement[Any]:
    """A ledger line's prescription, for a lot that reached its patient under several: a receipt's
    from its shipment, any other line's from the latest fill of its lot to its patient at or before
    it. NULL when neither says (the report then takes the pair's earliest prescription)."""
    fill, rx, shipment = D.alias("fill"), P.alias("fill_rx"), Shipment.__table__.alias("received_shipment")
    by_shipment = sa.select(fill.c.prescription_id).select_from(shipment.join(fill, fill.c.id == shipment.c.dispensing_id)) \
        .where(shipment.c.id == M.c.shipment_id).scalar_subquery()
    latest_fill = sa.select(fill.c.prescription_id).select_from(fill.join(rx, rx.c.id == fill.c.prescription_id)) \
        .where(rx.c.patient_id == M.c.patient_id, fill.c.lot_number == M.c.lot_number,
               fill.c.dispensed_at <= M.c.at) \
        .order_by(fill.c.dispensed_at.desc(), fill.c.id.desc()).limit(1).scalar_subquery()
    return sa.func.coalesce(by_shipment, latest_fill)


def _count_kind() -> sa.ColumnElement[bool]:
    return M.c.kind == MovementKind.COUNT_REPORTED.value


def _keys(grouping: Grouping, filters: ReportFilters, page: Page | None, end: datetime | None) -> sa.Select:
    """The prescriptions (or lots) the report lists, in keyset order: those matching the
    prescriber, patient and lot filters that existed by the range's last day (issued, or
    dispensed, by then)."""
    if grouping is Grouping.PRESCRIPTION:
        query = sa.select(P.c.id.label("key"), P.c.id.label("group_key"))
        query = query.where(*filters.conditions(
            patient=P.c.patient_id, prescriber=P.c.prescriber_id,
            lot=lambda lot: sa.exists().where(D.c.prescription_id == P.c.id, D.c.lot_number == lot)))
        if filters.end_on is not None:
            query = query.where(P.c.issued_on <= filters.end_on)
        if page is not None:
            query = query.where(P.c.id > (page.after or 0)).order_by(P.c.id).limit(page.size)
        return query
    first = sa.func.min(D.c.id)
    query = sa.select(first.label("key"), D.c.lot_number.label("group_key"),
                      sa.func.min(D.c.lot_expiry).label("lot_expiry")).select_from(
        D.join(P, P.c.id == D.c.prescription_id)).group_by(D.c.lot_number)
    query = _dispensing_filters(query, filters, end=end)
    if page is not None:
        query = query.having(first > (page.after or 0)).order_by(first).limit(page.size)
    return query


def _dispensing_filters(query: sa.Select, filters: ReportFilters, *, start: datetime | None = None,
                        end: datetime | None = None) -> sa.Select:
    query = query.where(*filters.conditions(patient=P.c.patient_id, prescriber=P.c.prescriber_id, lot=D.c.lot_number))
    if start is not None:
        query = query.where(D.c.dispensed_at >= start)
    if end is not None:
        query = query.where(D.c.dispensed_at < end)
    return query


def report_query(grouping: Grouping, filters: ReportFilters, zone: ZoneInfo, page: Page | None = None) -> sa.Select:
    """The whole report as one SELECT: one page of it, or (page None) all of it for streaming."""
    start, end = filters.utc_range(zone)
    by_prescription = grouping is Grouping.PRESCRIPTION
    keys = _keys(grouping, filters, page, end).cte("report_keys")

    # The patients whose ledger lines are read: every one when nothing narrows the report.
    scope = None
    if by_prescription and (page is not None or filters.narrowed):
        scope = sa.select(P.c.patient_id).where(P.c.id.in_(sa.select(keys.c.group_key))).distinct() \
            .cte("report_patients")
    elif not by_prescription and (page is not None or filters.narrowed):
        scope_query = _dispensing_filters(sa.select(P.c.patient_id).select_from(D.join(P, P.c.id == D.c.prescription_id)),
                                          filters)
        if page is not None:
            scope_query = scope_query.where(D.c.lot_number.in_(sa.select(keys.c.group_key)))
        scope = scope_query.distinct().cte("report_patients")

    def in_scope(column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        return sa.true() if scope is None else column.in_(sa.select(scope.c.patient_id))

    # The fills per (patient, lot, prescription): what was dispensed in the range, and where each
    # ledger line belongs ((patient, lot) -> the lowest prescription that dispensed that lot to them).
    dispensed_in_range = sa.and_(D.c.dispensed_at >= start if start is not None else sa.true(),
                                 D.c.dispensed_at < end if end is not None else sa.true())
    fills = sa.select(P.c.patient_id, D.c.lot_number, D.c.prescription_id, P.c.prescriber_id,
                      sa.func.sum(sa.case((dispensed_in_range, D.c.quantity), else_=0)).label("dispensed")) \
        .select_from(D.join(P, P.c.id == D.c.prescription_id)).where(in_scope(P.c.patient_id)) \
        .group_by(P.c.patient_id, D.c.lot_number, D.c.prescription_id, P.c.prescriber_id).cte("fills")
    holdings = sa.select(fills.c.patient_id, fills.c.lot_number,
                         sa.func.min(fills.c.prescription_id).label("prescription_id"),
                         sa.func.count().label("prescriptions")) \
        .group_by(fills.c.patient_id, fills.c.lot_number).cte("holdings")
    # The (patient, lot) pairs more than one prescription dispensed: their lines are told apart.
    shared = sa.select(holdings.c.patient_id, holdings.c.lot_number).where(holdings.c.prescriptions > 1) \
        .cte("shared_lots")

    latest = sa.select(M.c.patient_id, sa.func.max(M.c.id).label("count_id")) \
        .where(_count_kind(), M.c.at >= start if start is not None else sa.true(),
               M.c.at < end if end is not None else sa.true(), in_scope(M.c.patient_id)) \
        .group_by(M.c.patient_id).cte("latest_counts")

    # Level 1: one pass over the ledger, per (patient, lot) (and per prescription for a shared
    # pair); then each pair's prescription (a join of the small result, not of every ledger line).
    # The ledger lines up to the range's end, summed per (patient, lot) straight from the ledger
    # (an index-only scan of its patients' lines); the few pairs several prescriptions dispensed
    # are summed apart, per (patient, lot, prescription), each of their lines with its own.
    def summed(lines: Any, rx: sa.ColumnElement[Any] | None, name: str) -> sa.Subquery:
        L = lines.c
        in_range = L.at >= start if start is not None else sa.true()

        def flow(kind: MovementKind, sign: int = 1) -> sa.ColumnElement[Any]:
            return sa.func.sum(sa.case((sa.and_(L.kind == kind.value, in_range), L.quantity * sign), else_=0))

        before_count = L.id < latest.c.count_id
        keys = [L.patient_id, L.lot_number] + ([rx] if rx is not None else [])
        return sa.select(
            *keys, sa.func.max(latest.c.count_id).label("count_id"),
            (sa.func.sum(sa.case((L.at < start, L.quantity), else_=0)) if start is not None
             else sa.literal(0)).label("opening"),
            flow(MovementKind.RECEIVED).label("received"), flow(MovementKind.DOSE_TAKEN, -1).label("taken"),
            flow(MovementKind.WASTED, -1).label("wasted"), flow(MovementKind.RETURNED, -1).label("returned"),
            flow(MovementKind.CORRECTION).label("corrected"), sa.func.sum(L.quantity).label("expected"),
            sa.func.sum(sa.case((before_count, L.quantity), else_=0)).label("held"),
            sa.func.max(sa.case((before_count, 1), else_=0)).label("held_before"),
        ).select_from(lines.outerjoin(latest, latest.c.patient_id == L.patient_id)).group_by(*keys).subquery(name)

    up_to_end = [~_count_kind(), M.c.at < end if end is not None else sa.true(), in_scope(M.c.patient_id)]
    sums = summed(M.select().where(*up_to_end).subquery("ledger"), None, "ledger_sums")
    shared_lines = sa.select(M.c.id, M.c.patient_id, M.c.lot_number, M.c.kind, M.c.quantity, M.c.at,
                             _line_prescription().label("rx")) \
        .select_from(M.join(shared, sa.and_(shared.c.patient_id == M.c.patient_id,
                                            shared.c.lot_number == M.c.lot_number))) \
        .where(*up_to_end).subquery("shared_ledger")
    split = summed(shared_lines, shared_lines.c.rx, "shared_ledger_sums")

    def pair(table: Any) -> sa.ColumnElement[bool]:
        return sa.and_(holdings.c.patient_id == table.c.patient_id, holdings.c.lot_number == table.c.lot_number)
    figures = [name for name in sums.c.keys() if name not in ("patient_id", "lot_number")]
    single = sa.select(sums.c.patient_id, sums.c.lot_number, *[sums.c[name] for name in figures],
                       holdings.c.prescription_id.label("prescription_id")) \
        .select_from(sums.join(holdings, pair(sums))).where(holdings.c.prescriptions == 1)
    told_apart = sa.select(split.c.patient_id, split.c.lot_number, *[split.c[name] for name in figures],
                           sa.func.coalesce(split.c.rx, holdings.c.prescription_id).label("prescription_id")) \
        .select_from(split.join(holdings, pair(split)))
    pairs = sa.union_all(single, told_apart).subquery("ledger_pairs")
    level1 = sa.select(pairs, (pairs.c.prescription_id if by_prescription else pairs.c.lot_number).label("group_key")) \
        .cte("ledger_by_patient_lot")

    # Which (patient, lot) pairs the filters keep; the count attribution below looks at all of them.
    def kept(table: Any) -> sa.ColumnElement[bool]:
        return sa.and_(sa.true(), *filters.conditions(
            patient=table.c.patient_id, lot=table.c.lot_number,
            prescriber=lambda prescriber: table.c.prescription_id.in_(
                sa.select(P.c.id).where(P.c.prescriber_id == prescriber))))

    # A group's patients: level 1 has one row per (patient, lot), and a lot's rows are its patients.
    flows = sa.select(level1.c.group_key, *[sa.func.sum(level1.c[name]).label(name) for name in FLOWS],
                      sa.func.count().label("patients")) \
        .where(kept(level1)).group_by(level1.c.group_key).cte("flows")

    # Each counted patient's count, tied to one prescription or lot when it can be: the one group
    # held just before the count (lowest = highest), else, holding nothing, the one ever held.
    def only(condition: sa.ColumnElement[bool]) -> tuple[sa.ColumnElement[Any], sa.ColumnElement[Any]]:
        return (sa.func.min(sa.case((condition, level1.c.group_key))),
                sa.func.max(sa.case((condition, level1.c.group_key))))
    held_low, held_high = only(level1.c.held != 0)
    ever_low, ever_high = only(level1.c.held_before == 1)
    tied = sa.select(
        level1.c.patient_id,
        sa.case((held_low == held_high, held_low),
                (sa.and_(held_low.is_(None), ever_low == ever_high), ever_low)).label("group_key"),
        sa.func.sum(level1.c.held).label("expected_at_report"), sa.func.max(level1.c.count_id).label("count_id"),
    ).where(level1.c.count_id.is_not(None)).group_by(level1.c.patient_id).cte("tied_counts")
    count_row = M.alias("count_row")
    counted = tied.join(count_row, count_row.c.id == tied.c.count_id)
    if filters.narrowed:
        kept_pairs = sa.select(level1.c.patient_id, level1.c.group_key).where(kept(level1)).distinct().cte("kept_pairs")
        counted = counted.join(kept_pairs, sa.and_(kept_pairs.c.patient_id == tied.c.patient_id,
                                                   kept_pairs.c.group_key == tied.c.group_key))
    counts = sa.select(
        tied.c.group_key, sa.func.sum(count_row.c.reported_count).label("reported"),
        sa.func.sum(tied.c.expected_at_report).label("expected_at_report"),
        sa.func.max(count_row.c.at).label("reported_at"), sa.func.count().label("counts"),
    ).select_from(counted).where(tied.c.group_key.is_not(None)).group_by(tied.c.group_key).cte("counts")

    dispensed_key = fills.c.prescription_id if by_prescription else fills.c.lot_number
    dispensed = sa.select(dispensed_key.label("group_key"), sa.func.sum(fills.c.dispensed).label("dispensed")) \
        .where(kept(fills)).group_by(dispensed_key).cte("dispensed")

    def zero(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(column, 0)

    columns = [
        keys.c.key, zero(dispensed.c.dispensed).label("dispensed"),
        *[zero(flows.c[name]).label(name) for name in FLOWS],
        counts.c.reported, counts.c.reported_at, counts.c.expected_at_report, counts.c.counts,
        (counts.c.reported - counts.c.expected_at_report).label("discrepancy"),
    ]
    joined = keys.outerjoin(flows, flows.c.group_key == keys.c.group_key) \
        .outerjoin(counts, counts.c.group_key == keys.c.group_key) \
        .outerjoin(dispensed, dispensed.c.group_key == keys.c.group_key)
    if by_prescription:
        patient_user, prescriber = aliased(User), aliased(User)
        prescription = Prescription.__table__.alias("listed")
        columns += [prescription.c.patient_id, patient_user.full_name.label("patient"),
                    prescriber.full_name.label("prescriber"), prescription.c.drug, prescription.c.strength_mg,
                    prescription.c.issued_on,
                    (prescription.c.quantity * (prescription.c.refills + 1)).label("prescribed")]
        joined = joined.join(prescription, prescription.c.id == keys.c.key) \
            .join(Patient, Patient.id == prescription.c.patient_id) \
            .join(patient_user, patient_user.id == Patient.user_id) \
            .join(prescriber, prescriber.id == prescription.c.prescriber_id)
    else:
        columns += [keys.c.group_key.label("lot"), keys.c.lot_expiry, zero(flows.c.patients).label("patients")]
    return sa.select(*columns).select_from(joined).order_by(keys.c.key)


def _line(grouping: Grouping, row: sa.Row) -> Line:
    values = dict(row._mapping)
    reported = values.pop("reported")
    values.update(last_reported_on_hand=reported, expected_on_hand=values.pop("expected"))
    counts = values.pop("counts")
    if grouping is Grouping.PRESCRIPTION:
        values["prescription"] = values["key"]
    else:
        values["counts_tied_to_lot"] = counts or 0
    for name in ("dispensed", *FLOWS[:-1], "expected_on_hand", "last_reported_on_hand", "expected_at_report",
                 "discrepancy", "prescribed", "patients", "strength_mg"):
        if values.get(name) is not None:
            values[name] = int(values[name])
    return Line(key=int(values["key"]), values=values)


def read_page(session: Session, actor: Actor, grouping: Grouping, filters: ReportFilters, page: Page,
              zone: ZoneInfo) -> list[Line]:
    """One page: prescriptions (or lots) after the key `page.after`. Compliance only; audited (per
    prescription: once per patient shown)."""
    ensure_compliance(actor, REPORT[grouping])
    lines = [_line(grouping, row) for row in session.execute(report_query(grouping, filters, zone, page))]
    named = [line.values["patient_id"] for line in lines] if grouping is Grouping.PRESCRIPTION else None
    audit_read(session, actor, REPORT[grouping], filters, page=page, patients=named)
    return lines


def export(session: Session, actor: Actor, grouping: Grouping, filters: ReportFilters, zone: ZoneInfo,
           batch: int = EXPORT_BATCH) -> Iterator[tuple[Any, ...]]:
    """Every line as CSV cells, a keyset page of `batch` prescriptions (or lots) at a time, each
    page's transaction ended before its lines go out (`export.released`: a slow download holds no
    lock or snapshot). Compliance only; audited at once (per prescription: once per patient named)."""
    ensure_compliance(actor, REPORT[grouping])
    named = None   # per lot, nobody is named
    if grouping is Grouping.PRESCRIPTION:
        listed = _keys(grouping, filters, None, filters.utc_range(zone)[1]).with_only_columns(P.c.id)
        named = list(session.scalars(sa.select(P.c.patient_id).where(P.c.id.in_(listed)).distinct()))
    audit_read(session, actor, REPORT[grouping], filters, exported=True, patients=named)
    header = HEADER[grouping]

    def read(page: Page) -> list[Line]:
        return [_line(grouping, row) for row in session.execute(report_query(grouping, filters, zone, page))]
    return released(session, keyset_batches(read, lambda line: line.key, batch),
                    lambda line: tuple(line.values.get(name) for name in header))
