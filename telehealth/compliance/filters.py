"""The filters every report shares (dates, prescriber, patient, lot) and its paging, parsed once
for pages, CSV exports and the API alike.

Dates are the clinic's calendar days, inclusive at both ends; a report turns them into a UTC
half-open range with `utc_range`. A range is not limited in length: pages are keyset-paged and
exports are streamed, so a ten-year range costs what a day costs per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Mapping, Union
from zoneinfo import ZoneInfo

import marshmallow as ma
import sqlalchemy as sa
from marshmallow import fields, validate

from telehealth.accounts.schemas import Strict
from telehealth.audit.models import AuditAction
from telehealth.errors import RuleViolation

PAGE_SIZE = 100
# The filters of the clinical reports; the audit log names its own (`audit_log.ALLOWED_FILTERS`).
REPORT_FILTERS = frozenset({"start", "end", "prescriber", "patient", "lot"})
# What a filter narrows in a report's query: a column, or a function of the filter's value.
Target = Union[sa.ColumnElement[Any], Callable[[Any], sa.ColumnElement[bool]], None]
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class ReportFilters:
    start_on: date | None = None   # first day included
    end_on: date | None = None     # last day included
    prescriber_id: int | None = None
    patient_id: int | None = None
    lot_number: str | None = None
    actor_id: int | None = None    # the audit log: who acted (a user id)
    action: str | None = None      # the audit log: what kind of event

    def utc_range(self, clinic_zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC for a timestamp column: from the start day's local midnight to
        the local midnight after the end day."""
        start = None if self.start_on is None else _midnight(self.start_on, clinic_zone)
        end = None if self.end_on is None else _midnight(self.end_on + timedelta(days=1), clinic_zone)
        return start, end

    @property
    def narrowed(self) -> bool:
        """Whether the prescriber, patient or lot filter keeps only some of the report's people."""
        return self.prescriber_id is not None or self.patient_id is not None or self.lot_number is not None

    def conditions(self, *, prescriber: Target = None, patient: Target = None, lot: Target = None,
                   actor: Target = None, action: Target = None,
                   at: sa.ColumnElement[Any] | None = None, zone: ZoneInfo | None = None) -> list[sa.ColumnElement[bool]]:
        """The WHERE conditions the filters put on a report: each of `prescriber`, `patient` and `lot`
        is the report's column equal to the filter, or a function of the filter's value where the report
        reaches it through a subquery; `at` is a timestamp column within the days, in `zone`."""
        conditions = [target(value) if callable(target) else target == value
                      for target, value in ((prescriber, self.prescriber_id), (patient, self.patient_id),
                                            (lot, self.lot_number), (actor, self.actor_id), (action, self.action))
                      if target is not None and value is not None]
        if at is not None:
            start, end = self.utc_range(zone)
            conditions += [at >= start] if start is not None else []
            conditions += [at < end] if end is not None else []
        return conditions

    def as_details(self) -> dict[str, Any]:
        """For the audit event of a report read or export: which slice was looked at."""
        return {name: (value.isoformat() if isinstance(value, date) else value)
                for name, value in vars(self).items() if value is not None}


@dataclass(frozen=True)
class Page:
    """Keyset paging: rows after the key `after` (the report's ordering key), `size` of them."""

    after: int | None = None
    size: int = PAGE_SIZE


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


class ReportFiltersSchema(Strict):
    """Query arguments of every report. Unknown arguments are refused, not ignored."""

    start = fields.Date(load_default=None, metadata={"description": "First day included (YYYY-MM-DD)."})
    end = fields.Date(load_default=None, metadata={"description": "Last day included (YYYY-MM-DD)."})
    prescriber = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=1),
                                metadata={"description": "A prescriber's user id."})
    patient = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=1),
                             metadata={"description": "A patient's id."})
    lot = fields.String(load_default=None, validate=validate.Length(min=1, max=40),
                        metadata={"description": "A lot number, exactly."})
    actor = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=1),
                           metadata={"description": "Audit log only: the user id of whoever acted."})
    action = fields.String(load_default=None, validate=validate.OneOf([a.value for a in AuditAction]),
                           metadata={"description": "Audit log only: the kind of event, like patient.record_read."})
    after = fields.Integer(load_default=None, strict=False, validate=validate.Range(min=0),
                           metadata={"description": "Paging: the key of the last row already seen."})
    size = fields.Integer(load_default=PAGE_SIZE, strict=False, validate=validate.Range(min=1, max=MAX_PAGE_SIZE),
                          metadata={"description": f"Paging: rows per page (at most {MAX_PAGE_SIZE})."})

    @ma.validates_schema
    def start_before_end(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ma.ValidationError("The last day is before the first day.", "end")


def parse(arguments: Mapping[str, str], *, allowed: frozenset[str] = REPORT_FILTERS) -> tuple[ReportFilters, Page]:
    """Read a report's query arguments. `allowed` names the filters a report understands (say,
    escalation statistics have no lot; only the audit log has an actor); anything else, or a
    malformed value, is a RuleViolation with one message per field, and nothing is read."""
    raw = {key: arguments[key] for key in arguments if arguments[key] != ""}
    errors: dict[str, list[str]] = {}
    for key in raw:
        if key not in allowed | {"after", "size"} and key in ReportFiltersSchema().fields:
            errors[key] = ["This report cannot be filtered by this."]
    try:
        data = ReportFiltersSchema().load(raw)
    except ma.ValidationError as error:
        errors.update(error.normalized_messages())  # type: ignore[arg-type]
    if errors:
        raise RuleViolation("Those filters cannot be used.", {k: v if isinstance(v, list) else [str(v)]
                                                            for k, v in errors.items()})
    filters = ReportFilters(start_on=data["start"], end_on=data["end"], prescriber_id=data["prescriber"],
                            patient_id=data["patient"], lot_number=data["lot"], actor_id=data["actor"],
                            action=data["action"])
    return filters, Page(after=data["after"], size=data["size"])
