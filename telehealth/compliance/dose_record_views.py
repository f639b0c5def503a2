"""Dose records on the web and the API (SPEC §8): the list (filterable, keyset-paged), one record
as a printable page, both as CSV, and both as JSON under `/api/v1/compliance`. Compliance staff
only; every read and export is audited by `dose_records`.

Filters and paging are read by `filters.parse`, the one parser of every report: a malformed or
unknown argument is a 422 with one message per field, and nothing is read.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import marshmallow as ma
from flask import render_template, request, url_for
from flask.views import MethodView
from marshmallow import fields
from werkzeug.wrappers import Response

from telehealth.compliance import dose_records
from telehealth.compliance.api import FILTERS, blueprint as api
from telehealth.compliance.dose_records import DoseRecord, DoseRecordRow
from telehealth.compliance.export import released
from telehealth.compliance.filters import parse
from telehealth.compliance.views import READERS, blueprint, csv_response, kept_arguments, prescriber_choices
from telehealth.db import get_session
from telehealth.dosing.rules import SessionState
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from telehealth.web.auth import current_actor, login_required, token_required


# --- the pages --------------------------------------------------------------------------------

@blueprint.get("/dose-records")
@login_required(*READERS)
def dose_record_list() -> str:
    filters, page = parse(request.args)
    found = dose_records.list_dose_records(get_session(), current_actor(), filters, page)
    query = kept_arguments(request.args)
    return render_template("compliance/dose_records.html", page=found, filters=filters, size=page.size,
                           prescribers=prescriber_choices(), query=query,
                           next_url=url_for(".dose_record_list", **{**query, "after": found.next_after})
                           if found.next_after is not None else None)


@blueprint.get("/dose-records.csv")
@login_required(*READERS)
def dose_record_list_csv() -> Response:
    return _list_csv(request.args)


@blueprint.get("/dose-records/<int:dose_session_id>")
@login_required(*READERS)
def dose_record(dose_session_id: int) -> str:
    found = dose_records.read_dose_record(get_session(), current_actor(), dose_session_id)
    return render_template("compliance/dose_record.html", record=found, s=found.dose_session, zone=found.zone)


@blueprint.get("/dose-records/<int:dose_session_id>.csv")
@login_required(*READERS)
def dose_record_csv(dose_session_id: int) -> Response:
    return _record_csv(dose_session_id)


# --- CSV ----------------------------------------------------------------------------------------

def _list_csv(arguments: Any) -> Response:
    filters, _ = parse(arguments)   # paging is ignored: the export is every matching dose
    batches = dose_records.export_dose_records(get_session(), current_actor(), filters)
    return csv_response("dose-records.csv", dose_records.LIST_HEADER, _streamed(batches, dose_records.list_line))


def _streamed(batches: Iterable[list[DoseRecordRow]], line: Callable[[DoseRecordRow], tuple]) -> Iterator[Sequence[Any]]:
    return released(get_session(), batches, line)


RECORD_HEADER = ("section", "item", "value", "at_local")


def record_lines(r: DoseRecord) -> list[tuple[Any, ...]]:
    """One dose record, one fact per line: the form's sections in order."""
    s, rx, at = r.dose_session, r.dose_session.prescription, r.local
    lines: list[tuple[Any, ...]] = [
        ("session", "session id", s.id, None),
        ("session", "state", s.state.label, None),
        ("session", "record complete", r.complete, None),
        ("patient", "name", s.patient.full_name, None),
        ("patient", "date of birth", s.patient.date_of_birth, None),
        ("patient", "time zone", r.zone, None),
        ("sitter", "name", s.sitter.full_name, None),
        ("sitter", "relationship", s.sitter.relationship_to_patient, None),
        ("prescriber", "name", rx.prescriber.full_name, None),
        ("prescriber", "DEA number", rx.prescriber_dea_number, None),
        ("dose", "date", r.dose_date, None),
        ("dose", "medication", rx.medication, None),
        ("dose", "lozenges", rx.lozenges_per_dose, None),
        ("dose", "dose number", f"{s.dose_number} of {rx.doses_in_series}", None),
        *[("dose", "lot", f"{lot.lot_number} ({lot.taken}, expires {lot.expiry or 'unknown'})", None)
          for lot in r.lots_taken],
        ("timeline", "scheduled", None, at(s.scheduled_at)),
        ("timeline", "sitter arrived", None, at(s.sitter_arrived_at)),
        ("timeline", "pre-dose report complete", None, at(s.pre_dose_completed_at)),
        ("timeline", "cleared", None, at(s.cleared_at)),
        ("timeline", "dose taken", None, at(s.dosed_at)),
        ("timeline", "post-dose report complete", None, at(s.post_dose_completed_at)),
        ("timeline", "released", None, at(s.released_at)),
        ("blood pressure", "before the dose", r.bp_before, at(r.bp_before_at)),
        ("blood pressure", "before the dose, recheck", r.bp_recheck, at(r.bp_recheck_at)),
        ("blood pressure", "after the dose", r.bp_after, at(s.post_dose_completed_at)),
        ("blood pressure", "at release", r.bp_at_release, at(s.released_at)),
        ("observation", "total minutes", r.observation_minutes, None),
        *[("pre-dose answers", key.replace("_", " "), value, None) for key, value in r.pre.items()],
        *[("post-dose answers", key.replace("_", " "), value, None) for key, value in r.post.items()],
        *[("sedation", check.what, None, at(check.at)) for check in r.sedation],
        *[("adverse findings", "before the dose (hold)", finding, at(s.held_at)) for finding in s.hold_findings or []],
        *([("adverse findings", "hold released by the prescriber", s.hold_release_note, None)]
          if s.hold_release_note else []),
        *[("adverse findings", "after the dose", finding, None) for finding in r.findings],
    ]
    for e in r.escalations:
        item = f"escalation {e.id}"
        lines += [(item, "reason", e.reason.label, None), (item, "severity", e.severity.value, None),
                  (item, "opened", None, at(e.opened_at)),
                  (item, "acknowledged by", e.acknowledged_by.full_name if e.acknowledged_by else None,
                   at(e.acknowledged_at)),
                  *([(item, "state", "open: not acknowledged since paged again", at(e.paging_started_at))]
                    if e.acknowledged_at and e.state is State.OPEN else []),
                  (item, "resolved by", e.resolved_by.full_name if e.resolved_by else None, at(e.resolved_at)),
                  (item, "outcome", e.outcome.label if e.outcome else None, None),
                  (item, "resolution note", e.resolution_note, None)]
    return lines


def _record_csv(dose_session_id: int) -> Response:
    found = dose_records.read_dose_record(get_session(), current_actor(), dose_session_id, exported=True)
    return csv_response(f"dose-record-{found.id}.csv", RECORD_HEADER, record_lines(found))


# --- the API ------------------------------------------------------------------------------------

class DoseRecordEscalationOut(ma.Schema):
    id = fields.Integer()
    reason = fields.Enum(Reason, by_value=True)
    severity = fields.Enum(Severity, by_value=True)
    state = fields.Enum(State, by_value=True)
    opened_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by = fields.String(attribute="acknowledged_by.full_name", allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.String(attribute="resolved_by.full_name", allow_none=True)
    outcome = fields.Enum(Outcome, by_value=True, allow_none=True)
    resolution_note = fields.String(allow_none=True)


class DoseRecordRowOut(ma.Schema):
    """A dose, with its key figures. Times are UTC; `dose_date` is the patient's local date."""

    session_id = fields.Integer(attribute="id")
    dose_date = fields.Date()
    dosed_at = fields.AwareDateTime(attribute="dose_session.dosed_at")
    released_at = fields.AwareDateTime(attribute="dose_session.released_at", allow_none=True)
    time_zone = fields.String(attribute="zone")
    state = fields.Enum(SessionState, by_value=True, attribute="dose_session.state")
    dose_number = fields.Integer(attribute="dose_session.dose_number")
    patient_id = fields.Integer(attribute="dose_session.patient_id")
    patient = fields.String(attribute="dose_session.patient.full_name")
    sitter = fields.String(attribute="dose_session.sitter.full_name")
    prescriber_id = fields.Integer(attribute="dose_session.prescription.prescriber_id")
    prescriber = fields.String(attribute="dose_session.prescription.prescriber.full_name")
    lots = fields.List(fields.String(), metadata={"description": "Each lot the dose came from, with the count."})
    bp_before = fields.String(allow_none=True, metadata={"description": "Systolic/diastolic, the first reading."})
    bp_recheck = fields.String(allow_none=True, metadata={"description": "After resting, when the first was high."})
    bp_after = fields.String(allow_none=True)
    bp_at_release = fields.String(allow_none=True, metadata={
        "description": "Systolic/diastolic the sitter took and sent with the release (OK 128/82)."})
    observation_minutes = fields.Integer(allow_none=True, metadata={"description": "Dose to release."})
    record_complete = fields.Boolean(attribute="complete")
    escalation_count = fields.Integer(data_key="escalations")
    unresolved_escalations = fields.Integer(attribute="unresolved")
    most_severe = fields.Enum(Severity, by_value=True, allow_none=True)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        if attr == "lots":
            return [f"{lot} ({taken})" for lot, taken in obj.lots]
        if attr == "escalation_count":
            return len(obj.escalation_severities)
        return super().get_attribute(obj, attr, default)


class DoseRecordPageOut(ma.Schema):
    items = fields.List(fields.Nested(DoseRecordRowOut), attribute="rows")
    next_after = fields.Integer(allow_none=True, metadata={"description": "Pass as `after` for the next page; "
                                                                          "null on the last page."})


class DoseRecordLotOut(ma.Schema):
    lot_number = fields.String()
    taken = fields.Integer()
    expiry = fields.Date(allow_none=True)


class DoseRecordSedationOut(ma.Schema):
    at = fields.AwareDateTime()
    what = fields.String()


class DoseRecordOut(DoseRecordRowOut):
    """The whole monitoring record of one dose."""

    patient_date_of_birth = fields.Date(attribute="dose_session.patient.date_of_birth")
    sitter_relationship = fields.String(attribute="dose_session.sitter.relationship_to_patient")
    prescriber_dea_number = fields.String(attribute="dose_session.prescription.prescriber_dea_number")
    medication = fields.String(attribute="dose_session.prescription.medication")
    lozenges = fields.Integer(attribute="dose_session.prescription.lozenges_per_dose")
    lots_taken = fields.List(fields.Nested(DoseRecordLotOut))
    scheduled_at = fields.AwareDateTime(attribute="dose_session.scheduled_at")
    sitter_arrived_at = fields.AwareDateTime(attribute="dose_session.sitter_arrived_at", allow_none=True)
    pre_dose_completed_at = fields.AwareDateTime(attribute="dose_session.pre_dose_completed_at", allow_none=True)
    cleared_at = fields.AwareDateTime(attribute="dose_session.cleared_at", allow_none=True)
    post_dose_completed_at = fields.AwareDateTime(attribute="dose_session.post_dose_completed_at", allow_none=True)
    bp_before_at = fields.AwareDateTime(allow_none=True)
    bp_recheck_at = fields.AwareDateTime(allow_none=True)
    pre_dose_answers = fields.Dict(keys=fields.String(), values=fields.Raw(), attribute="pre")
    post_dose_answers = fields.Dict(keys=fields.String(), values=fields.Raw(), attribute="post")
    sedation_checks = fields.List(fields.Nested(DoseRecordSedationOut), attribute="sedation")
    hold_findings = fields.List(fields.String(), attribute="dose_session.hold_findings", allow_none=True)
    hold_release_note = fields.String(attribute="dose_session.hold_release_note", allow_none=True)
    adverse_findings = fields.List(fields.String(), attribute="findings")
    escalation_outcomes = fields.List(fields.Nested(DoseRecordEscalationOut), attribute="escalations")


@api.route("/dose-records")
class DoseRecords(MethodView):
    @token_required(*READERS)
    @api.doc(parameters=FILTERS)
    @api.response(200, DoseRecordPageOut)
    @api.alt_response(422, description="A malformed or unknown filter")
    def get(self):
        """Dose records, oldest session first, keyset-paged: pass `next_after` back as `after`.
        Filters: `start`/`end` (the patient's local dose date), `prescriber`, `patient`, `lot`."""
        filters, page = parse(request.args)
        return dose_records.list_dose_records(get_session(), current_actor(), filters, page)


@api.route("/dose-records.csv")
class DoseRecordsCsv(MethodView):
    @token_required(*READERS)
    @api.doc(parameters=FILTERS, responses={200: {"description": "CSV, one line per dose, streamed",
                                                            "content": {"text/csv": {}}}})
    def get(self):
        """Every matching dose as CSV (paging arguments are ignored)."""
        return _list_csv(request.args)


@api.route("/dose-records/<int:dose_session_id>")
class OneDoseRecord(MethodView):
    @token_required(*READERS)
    @api.response(200, DoseRecordOut)
    @api.alt_response(404, description="No such session, or no dose was taken in it")
    def get(self, dose_session_id: int):
        """The monitoring record of one dose."""
        return dose_records.read_dose_record(get_session(), current_actor(), dose_session_id)


@api.route("/dose-records/<int:dose_session_id>.csv")
class OneDoseRecordCsv(MethodView):
    @token_required(*READERS)
    @api.doc(responses={200: {"description": "CSV, one fact per line", "content": {"text/csv": {}}}})
    @api.alt_response(404, description="No such session, or no dose was taken in it")
    def get(self, dose_session_id: int):
        """One dose record as CSV: section, item, value, local time."""
        return _record_csv(dose_session_id)

