"""marshmallow schemas at the prescriptions API's edge: screenings, issuing a prescription,
changing its status, the list's filters, and what is read back.

The schemas check shape (whole numbers are JSON integers, never "8", 8.5 or true; known enum
values; no unknown fields); the ranges and clinical limits are the rules' (`prescriptions.rules`),
which answer in the same field-error shape.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from telehealth.accounts.schemas import PersonOut, RepeatableList, Strict
from telehealth.prescriptions.rules import Contraindication, PrescriptionStatus


def whole(description: str, **kwargs: Any) -> fields.Integer:
    """A required JSON integer: `strict` refuses strings, fractions and booleans."""
    return fields.Integer(strict=True, required=True, metadata={"description": description}, **kwargs)


class ScreeningCreate(Strict):
    # The items are the rules' to check: one message naming every unknown item, where a
    # marshmallow item field would file its errors under each index.
    contraindications = fields.List(
        fields.Raw(metadata={"type": "string", "enum": [c.value for c in Contraindication]}), required=True,
        metadata={"description": "The contraindications found; empty when none."})
    baseline_systolic = whole("mmHg")
    baseline_diastolic = whole("mmHg")
    phq9 = whole("PHQ-9 score, 0–27")
    gad7 = whole("GAD-7 score, 0–21")
    override_reason = fields.String(load_default=None, allow_none=True,
                                    metadata={"description": "Prescribe despite the contraindications found, "
                                                             "for this reason (audited)."})


class OverrideRequest(Strict):
    reason = fields.String(required=True, metadata={"description": "Why prescribing is cleared anyway."})


class ScreeningOut(ma.Schema):
    id = fields.Integer()
    patient_id = fields.Integer()
    recorded_by = fields.Nested(PersonOut)
    recorded_at = fields.AwareDateTime()
    contraindications = fields.List(fields.String())
    baseline_systolic = fields.Integer()
    baseline_diastolic = fields.Integer()
    phq9 = fields.Integer()
    gad7 = fields.Integer()
    override_reason = fields.String(allow_none=True)
    override_by_id = fields.Integer(allow_none=True)
    override_at = fields.AwareDateTime(allow_none=True)
    clears_prescribing = fields.Boolean(metadata={"description": "No contraindication, or overridden."})


class PrescriptionCreate(Strict):
    patient_id = whole("The patient prescribed for.")
    strength_mg = whole("mg per lozenge")
    lozenges_per_dose = whole("lozenges per dose")
    quantity = whole("lozenges per fill")
    refills = whole("fills after the first; Schedule III allows at most 5")
    directions = fields.String(required=True)
    doses_in_series = whole("doses in the series")
    min_hours_between_doses = whole("hours")
    max_doses_per_7_days = whole("doses in any 7 days")
    # Left out, the operation's defaults apply (ketamine HCl, sublingual lozenge, today, active).
    drug = fields.String()
    dosage_form = fields.String()
    issued_on = fields.Date(metadata={"description": "Today when left out; at most 7 days back, never ahead."})
    status = fields.Enum(PrescriptionStatus, by_value=True,
                         metadata={"description": "A new prescription is `draft` or `active` (the default)."})


class StatusChange(Strict):
    status = fields.Enum(PrescriptionStatus, by_value=True, required=True)
    note = fields.String(load_default=None, allow_none=True,
                         metadata={"description": "Required when suspending or cancelling."})


class PrescriptionQuery(Strict):
    patient_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    status = RepeatableList(fields.Enum(PrescriptionStatus, by_value=True), load_default=list,
                            metadata={"description": "Repeat it or give a comma list. Without it: every status."})

    @ma.post_load
    def statuses(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["statuses"] = data.pop("status")
        return data


class PrescriptionSummary(ma.Schema):
    # Attribute paths, not functions: `dispensing.schemas.PrescriptionOut` reads these fields
    # through its own `get_attribute`, which a function field would bypass.
    id = fields.Integer()
    patient_id = fields.Integer()
    patient_name = fields.String(attribute="patient.full_name")
    prescriber = fields.Nested(PersonOut)
    prescriber_dea_number = fields.String()
    screening_id = fields.Integer()
    drug = fields.String()
    strength_mg = fields.Integer()
    dosage_form = fields.String()
    lozenges_per_dose = fields.Integer()
    quantity = fields.Integer(metadata={"description": "Lozenges per fill."})
    refills = fields.Integer()
    directions = fields.String()
    doses_in_series = fields.Integer()
    min_hours_between_doses = fields.Integer()
    max_doses_per_7_days = fields.Integer()
    issued_on = fields.Date()
    expires_on = fields.Date(metadata={"description": "No fill on or after this day."})
    status = fields.Enum(PrescriptionStatus, by_value=True)
    status_note = fields.String(allow_none=True)
    status_changed_at = fields.AwareDateTime()
    created_at = fields.AwareDateTime()
