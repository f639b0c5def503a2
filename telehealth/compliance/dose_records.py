"""Dose records (SPEC §8): for every home dose, the monitoring record compiled from its session, in
the spirit of the Spravato REMS patient monitoring form: who (patient, sitter, prescriber), when
(the patient's local date), what (dose and lot), blood pressure before and after, the sedation
checks, the dissociation answer, observation minutes, adverse findings and every escalation with
its outcome.

A dose record exists for each session whose dose was taken (`dosed_at` set: dosed, observing or
completed). A session held, missed or cancelled before the dose has no dose to record: its hold
and escalations are on the patient's page and in the escalation statistics.

Reads only, for compliance staff, each audited. The list is keyset-paged by session id and built
with a fixed number of queries per page (the sessions with their people in one joined query, then
one batched query each for answers, lots and escalations), whatever the page size; the CSV of
every dose walks the same pages. The questionnaires' answers are read by the dose-session room's
own readers (`charts.readings` in batches, `operations.answers` for one record).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, contains_eager, joinedload

from telehealth.accounts.models import Patient
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record, record_for_each_patient
from telehealth.compliance.export import keyset_batches
from telehealth.compliance.filters import Page, ReportFilters
from telehealth.compliance.operations import ensure_compliance
from telehealth.dispensing.models import Dispensing, InventoryMovement, MovementKind
from telehealth.dosing import charts, rules
from telehealth.dosing.models import CheckIn, Deadline, DeadlineKind, DeadlineState, DoseSession
from telehealth.dosing.operations import answers, first_answer_at
from telehealth.dosing.rules import BLOOD_PRESSURE, BLOOD_PRESSURE_RECHECK, Questionnaire
from telehealth.errors import NotFound
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Severity, State
from telehealth.prescriptions.models import Prescription

REPORT = "dose_records"
# Check-ins whose payload the record reads: the sitter's release (its reading, `OK 128/82`) and
# findings logged after the dose (the post-dose report's, and an urgent reading at release).
RELEASE = "release"
FINDINGS_AFTER_DOSE = ("findings.post_dose", "findings.release")


def pressure(reading: Sequence[int] | None) -> str | None:
    return None if reading is None else f"{reading[0]}/{reading[1]}"


# --- one row of the list ----------------------------------------------------------------------

@dataclass(frozen=True)
class DoseRecordRow:
    """A dose, with the figures the list and its CSV show."""

    dose_session: DoseSession
    pre: Mapping[str, Any]
    post: Mapping[str, Any]
    lots: list[tuple[str, int]]                     # (lot number, lozenges taken from it)
    escalation_severities: list[tuple[Severity, State]] = field(default_factory=list)
    at_release: Mapping[str, Any] = field(default_factory=dict)   # the release check-in's payload

    @property
    def id(self) -> int:
        return self.dose_session.id

    @property
    def zone(self) -> str:
        return self.dose_session.patient.timezone

    def local(self, moment: datetime | None) -> datetime | None:
        return None if moment is None else rules.to_local(moment, self.zone)

    @property
    def dose_date(self) -> date:
        return self.local(self.dose_session.dosed_at).date()

    @property
    def bp_before(self) -> str | None:
        return pressure(self.pre.get(BLOOD_PRESSURE.key))

    @property
    def bp_recheck(self) -> str | None:
        return pressure(self.pre.get(BLOOD_PRESSURE_RECHECK.key))

    @property
    def bp_after(self) -> str | None:
        return pressure(self.post.get(BLOOD_PRESSURE.key))

    @property
    def bp_at_release(self) -> str | None:
        return pressure(self.at_release.get(rules.SITTER_READING))

    @property
    def observation_minutes(self) -> int | None:
        """From the dose to the sitter's release; None while observation is under way."""
        s = self.dose_session
        if s.released_at is None:
            return None
        return int((s.released_at - s.dosed_at).total_seconds() // 60)

    @property
    def observation(self) -> str:
        """Total observation as read on the record: minutes, still under way, or ended unreleased."""
        if self.observation_minutes is not None:
            return f"{self.observation_minutes} minutes"
        if self.dose_session.state.finished:
            return "ended without the sitter's release"
        return "under way"

    @property
    def complete(self) -> bool:
        """The same test as the staged release (`scheduling.incomplete_records`): post-dose report and release in."""
        return self.dose_session.post_dose_completed_at is not None and self.dose_session.released_at is not None

    @property
    def lot_label(self) -> str:
        return "; ".join(f"{lot} ({taken})" for lot, taken in self.lots)

    @property
    def unresolved(self) -> int:
        return sum(1 for _, state in self.escalation_severities if state is not State.RESOLVED)

    @property
    def most_severe(self) -> Severity | None:
        found = [severity for severity, _ in self.escalation_severities]
        return max(found, key=lambda s: s.rank) if found else None


# --- the query --------------------------------------------------------------------------------

def _matching(query: sa.Select, filters: ReportFilters, zones: Sequence[str]) -> sa.Select:
    """`query` (over dose sessions) narrowed to sessions whose dose was taken, filtered in SQL.

    The dates are the patient's own calendar days (the record's date): one UTC range per time
    zone the clinic's patients live in, each matched with that zone's patients."""
    query = (query.join(DoseSession.patient).join(DoseSession.prescription)
             .where(DoseSession.dosed_at.is_not(None)))
    query = query.where(*filters.conditions(
        patient=DoseSession.patient_id, prescriber=Prescription.prescriber_id,
        lot=lambda lot: DoseSession.id.in_(sa.select(InventoryMovement.dose_session_id).where(
            InventoryMovement.kind == MovementKind.DOSE_TAKEN, InventoryMovement.lot_number == lot))))
    if filters.start_on is not None or filters.end_on is not None:
        ranges = [(zone, *filters.utc_range(ZoneInfo(zone))) for zone in zones]
        by_zone = [sa.and_(Patient.timezone == zone,
                           *([DoseSession.dosed_at >= start] if start else []),
                           *([DoseSession.dosed_at < end] if end else [])) for zone, start, end in ranges]
        query = query.where(sa.or_(*by_zone) if by_zone else sa.false())
        # The widest span over every zone as a plain range too, so the index on dosed_at serves it.
        starts = [start for _, start, _ in ranges if start]
        ends = [end for _, _, end in ranges if end]
        if starts:
            query = query.where(DoseSession.dosed_at >= min(starts))
        if ends:
            query = query.where(DoseSession.dosed_at < max(ends))
    return query


def _dosed(filters: ReportFilters, zones: Sequence[str]) -> sa.Select:
    """The matching sessions with their patient, sitter and prescriber, in the same query."""
    return _matching(sa.select(DoseSession), filters, zones).options(
        contains_eager(DoseSession.patient).joinedload(Patient.user),
        contains_eager(DoseSession.prescription).joinedload(Prescription.prescriber),
        joinedload(DoseSession.sitter))


def _zones(session: Session, filters: ReportFilters) -> list[str]:
    if filters.start_on is None and filters.end_on is None:
        return []
    return list(session.scalars(sa.select(Patient.timezone).distinct()))


def _rows(session: Session, sessions: Sequence[DoseSession]) -> list[DoseRecordRow]:
    """The page's sessions as rows: three batched lookups for all of them."""
    ids = [s.id for s in sessions]
    if not ids:
        return []
    found = charts.readings(session, sessions)
    # `readings` keeps the sessions' order and leaves out only a session with no answers at all
    # (never one that was dosed: clearance needs the pre-dose report), so pair them in order.
    by_id: dict[int, charts.Reading] = {}
    remaining = iter(found)
    reading = next(remaining, None)
    for s in sessions:
        if reading is not None and (reading.dose_number, reading.when) == (s.dose_number, s.dosed_at):
            by_id[s.id] = reading
            reading = next(remaining, None)
    lots: dict[int, list[tuple[str, int]]] = {i: [] for i in ids}
    for session_id, lot, taken in session.execute(
            sa.select(InventoryMovement.dose_session_id, InventoryMovement.lot_number,
                      -sa.func.sum(InventoryMovement.quantity))
            .where(InventoryMovement.dose_session_id.in_(ids), InventoryMovement.kind == MovementKind.DOSE_TAKEN)
            .group_by(InventoryMovement.dose_session_id, InventoryMovement.lot_number)
            .order_by(InventoryMovement.dose_session_id, InventoryMovement.lot_number)):
        lots[session_id].append((lot, int(taken)))
    alerts: dict[int, list[tuple[Severity, State]]] = {i: [] for i in ids}
    for session_id, severity, state in session.execute(
            sa.select(Escalation.session_id, Escalation.severity, Escalation.state)
            .where(Escalation.session_id.in_(ids)).order_by(Escalation.id)):
        alerts[session_id].append((severity, state))
    releases = dict(session.execute(sa.select(CheckIn.dose_session_id, CheckIn.payload)
                                    .where(CheckIn.dose_session_id.in_(ids), CheckIn.kind == RELEASE)).all())
    empty: dict[str, Any] = {}
    return [DoseRecordRow(s, by_id[s.id].pre if s.id in by_id else empty, by_id[s.id].post if s.id in by_id else empty,
                          lots[s.id], alerts[s.id], releases.get(s.id) or empty) for s in sessions]


def _page(session: Session, filters: ReportFilters, page: Page, zones: Sequence[str]) -> tuple[list[DoseRecordRow],
                                                                                              int | None]:
    query = _dosed(filters, zones)
    if page.after is not None:
        query = query.where(DoseSession.id > page.after)
    sessions = list(session.scalars(query.order_by(DoseSession.id).limit(page.size + 1)).unique())
    more = len(sessions) > page.size
    sessions = sessions[:page.size]
    return _rows(session, sessions), (sessions[-1].id if more else None)


@dataclass(frozen=True)
class DoseRecordPage:
    rows: list[DoseRecordRow]
    next_after: int | None   # the `after` of the next page, None on the last


def list_dose_records(session: Session, actor: Actor, filters: ReportFilters, page: Page) -> DoseRecordPage:
    """One page of dose records, oldest session first. The read is audited once per patient shown
    (so "who looked at this patient?" finds it), with the filters."""
    ensure_compliance(actor, REPORT)
    rows, next_after = _page(session, filters, page, _zones(session, filters))
    shown: dict[int, list[int]] = {}
    for row in rows:
        shown.setdefault(row.dose_session.patient_id, []).append(row.id)
    details = {"report": REPORT, "filters": filters.as_details(), "after": page.after, "size": page.size}
    for patient_id, session_ids in shown.items() or [(None, [])]:
        record(session, actor, AuditAction.REPORT_READ, object_type="dose_record", patient_id=patient_id,
               details={**details, "session_ids": session_ids})
    return DoseRecordPage(rows, next_after)


def export_dose_records(session: Session, actor: Actor, filters: ReportFilters,
                        batch: int = 500) -> Iterator[list[DoseRecordRow]]:
    """Every dose the filters match, for a CSV, in batches of `batch` sessions. The export is
    audited now, once per patient it covers (found by one DISTINCT query); the batches are read
    as the caller iterates, each with its own few queries, so memory stays one batch."""
    ensure_compliance(actor, REPORT)
    zones = _zones(session, filters)
    patients = list(session.scalars(_matching(sa.select(DoseSession.patient_id).distinct(), filters, zones)
                                    .order_by(DoseSession.patient_id)))
    record_for_each_patient(session, actor, AuditAction.REPORT_EXPORTED, patients or [None], object_type="dose_record",
                            details={"report": REPORT, "filters": filters.as_details(), "format": "csv"})
    return keyset_batches(lambda page: _page(session, filters, page, zones)[0], lambda row: row.id, batch)


LIST_HEADER = ("session_id", "dose_date", "dosed_at_local", "time_zone", "patient_id", "patient", "sitter",
               "prescriber", "medication", "lozenges", "dose_number", "lots", "state", "bp_before",
               "bp_recheck", "pulse", "bp_after", "bp_at_release", "dissociation", "nausea", "observation_minutes", "released_at_local",
               "record_complete", "escalations", "unresolved_escalations", "most_severe")


def list_line(row: DoseRecordRow) -> tuple[Any, ...]:
    s = row.dose_session
    rx = s.prescription
    return (s.id, row.dose_date, row.local(s.dosed_at), row.zone, s.patient_id, s.patient.full_name,
            s.sitter.full_name, rx.prescriber.full_name, rx.medication,
            rx.lozenges_per_dose, s.dose_number, row.lot_label, s.state.value, row.bp_before, row.bp_recheck,
            row.pre.get(rules.PULSE.key), row.bp_after, row.bp_at_release, row.post.get(rules.DISSOCIATION.key),
            row.post.get(rules.NAUSEA.key), row.observation_minutes, row.local(s.released_at), row.complete,
            len(row.escalation_severities), row.unresolved, row.most_severe.value if row.most_severe else None)


# --- one dose record ----------------------------------------------------------------------------

@dataclass(frozen=True)
class LotTaken:
    lot_number: str
    taken: int
    expiry: date | None


@dataclass(frozen=True)
class SedationCheck:
    """One moment of the sitter's watch: asked, answered OK, unanswered, or the release."""

    at: datetime
    what: str


@dataclass(frozen=True)
class DoseRecord(DoseRecordRow):
    lots_taken: list[LotTaken] = field(default_factory=list)
    bp_before_at: datetime | None = None
    bp_recheck_at: datetime | None = None
    sedation: list[SedationCheck] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)         # post-dose findings, as logged
    escalations: list[Escalation] = field(default_factory=list)


def read_dose_record(session: Session, actor: Actor, dose_session_id: int, *, exported: bool = False) -> DoseRecord:
    """The record of one dose; the read (or the export) is audited with the patient."""
    ensure_compliance(actor, REPORT)
    found = session.scalars(_dosed(ReportFilters(), []).where(DoseSession.id == dose_session_id)).unique().first()
    if found is None:
        raise NotFound(f"No dose record for session {dose_session_id}: no such session, or no dose was taken in it.")
    pre, post = answers(session, found, Questionnaire.PRE_DOSE), answers(session, found, Questionnaire.POST_DOSE)
    lots = _lots_taken(session, found)
    escalations = list(session.scalars(
        sa.select(Escalation).where(Escalation.session_id == found.id).order_by(Escalation.id)
        .options(joinedload(Escalation.acknowledged_by), joinedload(Escalation.resolved_by))))
    findings = [label for payload in session.scalars(
        sa.select(CheckIn.payload).where(CheckIn.dose_session_id == found.id, CheckIn.kind.in_(FINDINGS_AFTER_DOSE))
        .order_by(CheckIn.id)) for label in (payload or {}).get("findings", [])]
    at_release = session.scalar(sa.select(CheckIn.payload).where(CheckIn.dose_session_id == found.id,
                                                                 CheckIn.kind == RELEASE)
                                 .order_by(CheckIn.id).limit(1))
    record(session, actor, AuditAction.REPORT_EXPORTED if exported else AuditAction.REPORT_READ,
           object_type="dose_record", object_id=found.id, patient_id=found.patient_id,
           details={"report": "dose_record", **({"format": "csv"} if exported else {})})
    prefix = Questionnaire.PRE_DOSE.value + "."
    return DoseRecord(found, pre, post, [(lot.lot_number, lot.taken) for lot in lots],
                      [(e.severity, e.state) for e in escalations], at_release or {}, lots_taken=lots,
                      bp_before_at=first_answer_at(session, found, prefix + BLOOD_PRESSURE.key),
                      bp_recheck_at=first_answer_at(session, found, prefix + BLOOD_PRESSURE_RECHECK.key),
                      sedation=_sedation(session, found), findings=findings, escalations=escalations)


def _lots_taken(session: Session, found: DoseSession) -> list[LotTaken]:
    """The lots the dose came from (the ledger's dose-taken movements), with each lot's expiry as
    dispensed on this patient's prescriptions."""
    expiry = (sa.select(sa.func.min(Dispensing.lot_expiry)).join(Prescription)
              .where(Dispensing.lot_number == InventoryMovement.lot_number,
                     Prescription.patient_id == found.patient_id).scalar_subquery())
    rows = session.execute(sa.select(InventoryMovement.lot_number, -sa.func.sum(InventoryMovement.quantity), expiry)
                           .where(InventoryMovement.dose_session_id == found.id,
                                  InventoryMovement.kind == MovementKind.DOSE_TAKEN)
                           .group_by(InventoryMovement.lot_number).order_by(InventoryMovement.lot_number))
    return [LotTaken(lot, int(taken), expires) for lot, taken, expires in rows]


SITTER_SAYS = {"observation_ok": "sitter: OK, responds to their name",
               "observation_not_ok": "sitter: NOT OK, does not respond (urgent alert)",
               "release": "released by the sitter: alert, oriented, back to usual self"}


def _sedation(session: Session, found: DoseSession) -> list[SedationCheck]:
    """The sitter's watch after the dose (SPEC §4): each time they were asked whether the patient
    responds to their name spoken in a normal voice, each OK, each question left unanswered, and
    the release."""
    checks: list[SedationCheck] = []
    for kind, state, due_at, settled_at, note in session.execute(
            sa.select(Deadline.kind, Deadline.state, Deadline.due_at, Deadline.settled_at, Deadline.note)
            .where(Deadline.dose_session_id == found.id,
                   Deadline.kind.in_([DeadlineKind.OBSERVATION_CHECK, DeadlineKind.OBSERVATION_ANSWER]),
                   Deadline.state.in_([DeadlineState.MET, DeadlineState.MISSED]))
            .order_by(Deadline.id)):   # a question before its answer when both carry the same time
        if kind is DeadlineKind.OBSERVATION_CHECK:
            checks.append(SedationCheck(settled_at or due_at, "sitter asked: does the patient respond to their name?"))
        elif state is DeadlineState.MISSED:
            checks.append(SedationCheck(due_at, "no answer from the sitter in time (escalated)"))
        elif note == "SOS":   # `operations.sos_answers_the_check`: the sitter's answer was SOS
            checks.append(SedationCheck(settled_at or due_at, "sitter: SOS, does not respond (urgent alert)"))
    for kind, received_at in session.execute(
            sa.select(CheckIn.kind, CheckIn.received_at)
            .where(CheckIn.dose_session_id == found.id,
                   CheckIn.kind.in_(list(SITTER_SAYS)))):
        checks.append(SedationCheck(received_at, SITTER_SAYS[kind]))
    return sorted(checks, key=lambda check: check.at)
