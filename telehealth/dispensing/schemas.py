"""marshmallow schemas at the dispensing API's edge: fills, shipments, receipt, loss in transit,
the inventory ledger and staged release.

Counts and quantities must be JSON integers (never "8", 8.5 or true); whether a count is
plausible, a lot unexpired or a fill still allowed is the rules' (`dispensing.rules`) to say,
in the same field-error shape.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields

from telehealth.accounts.schemas import PersonOut, Strict
from telehealth.dispensing.models import MovementKind
from telehealth.prescriptions.schemas import PrescriptionSummary, whole


class DispenseRequest(Strict):
    quantity = whole("Lozenges in this fill; at most the prescription's quantity.")
    lot_number = fields.String(required=True)
    lot_expiry = fields.Date(required=True, metadata={"description": "Must be after today."})


class ShipRequest(Strict):
    carrier = fields.String(required=True)
    tracking_number = fields.String(required=True)


class ReceiptRequest(Strict):
    count = whole("The number of lozenges found in the package.")


class LostRequest(Strict):
    note = fields.String(required=True, metadata={"description": "What is known of the loss."})


class LossFilingsRequest(Strict):
    dea_notice_on = fields.Date(metadata={"description": "The written notice to the DEA (due in 1 business day)."})
    form_106_filed_on = fields.Date(metadata={"description": "DEA Form 106 (due in 45 days); with its number."})
    form_106_number = fields.String()


class CountRequest(Strict):
    count = whole("The number of lozenges on hand, every lot together.")


class ReturnRequest(Strict):
    lot_number = fields.String(required=True)
    quantity = whole("Lozenges of this lot returned to the pharmacy.")
    note = fields.String(load_default=None, allow_none=True)


class CorrectionRequest(Strict):
    corrects_id = fields.Integer(required=True, strict=True,
                                 metadata={"description": "The ledger entry being corrected."})
    quantity = fields.Integer(required=True, strict=True, metadata={
        "description": "The signed change to on hand: -2 takes two away, 1 adds one; never 0."})
    note = fields.String(required=True, metadata={"description": "What was wrong and how it is known."})


class WasteRequest(Strict):
    lot_number = fields.String(required=True)
    quantity = whole("Lozenges of this lot destroyed.")
    witness_name = fields.String(required=True, metadata={"description": "Who saw them destroyed."})
    note = fields.String(load_default=None, allow_none=True)


class ReleaseRequest(Strict):
    reason = fields.String(required=True, metadata={"description": "Why the package may leave although held."})


class FillOut(ma.Schema):
    id = fields.Integer()
    prescription_id = fields.Integer()
    fill_number = fields.Integer(metadata={"description": "1 is the original fill, 2.. are refills."})
    quantity = fields.Integer()
    lot_number = fields.String()
    lot_expiry = fields.Date()
    pharmacist = fields.Nested(PersonOut)
    dispensed_at = fields.AwareDateTime()
    shipment_id = fields.Function(lambda fill: fill.shipment.id if fill.shipment else None,
                                  metadata={"description": "Null until it ships."})


def mailing_address(patient: Any) -> str:
    return ", ".join(part for part in (patient.address_line1, patient.address_line2, patient.city,
                                       f"{patient.region} {patient.postal_code}") if part)


class PrescriptionOut(PrescriptionSummary):
    """`{"prescription": ..., "fills": [...]}` as one record: the prescription with every fill made
    of it. Its fills are dispensing's rows, hence this schema lives here."""

    fills = fields.List(fields.Nested(FillOut))
    fills_left = fields.Integer(metadata={"description": "The first fill and refills not yet dispensed."})
    # A Schedule III prescription carries the patient's address; the pharmacy ships to it.
    mailing_address = fields.Function(
        lambda record: mailing_address(record["prescription"].patient),
        metadata={"description": "The patient's mailing address, where the package goes."})

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        prescription, fills = obj["prescription"], obj["fills"]
        if attr == "fills":
            return fills
        if attr == "fills_left":
            return 1 + prescription.refills - len(fills)
        return super().get_attribute(prescription, attr, default)


class ShipmentOut(ma.Schema):
    id = fields.Integer()
    dispensing_id = fields.Integer()
    patient_id = fields.Integer()
    state = fields.String(metadata={"description": "in transit, delivered, received or lost"})
    quantity = fields.Integer(attribute="dispensing.quantity", metadata={"description": "Lozenges shipped."})
    lot_number = fields.String(attribute="dispensing.lot_number")
    carrier = fields.String()
    tracking_number = fields.String()
    shipped_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)
    received_at = fields.AwareDateTime(allow_none=True)
    received_count = fields.Integer(allow_none=True)
    received_via = fields.String(allow_none=True)
    release_override_id = fields.Integer(allow_none=True)
    lost_reported_at = fields.AwareDateTime(allow_none=True)
    lost_escalation_id = fields.Integer(allow_none=True)
    dea_notice_on = fields.Date(allow_none=True)
    form_106_filed_on = fields.Date(allow_none=True)
    form_106_number = fields.String(allow_none=True)


class MovementOut(ma.Schema):
    id = fields.Integer()
    lot_number = fields.String(metadata={"description": "`*` on a reported count: every lot together."})
    kind = fields.Enum(MovementKind, by_value=True)
    quantity = fields.Integer(metadata={"description": "The signed change to on hand (0 for a reported count)."})
    reported_count = fields.Integer(allow_none=True)
    at = fields.AwareDateTime()
    actor_user_id = fields.Integer(allow_none=True)
    actor_label = fields.String()
    shipment_id = fields.Integer(allow_none=True)
    dose_session_id = fields.Integer(allow_none=True)
    witness_name = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    corrects_id = fields.Integer(allow_none=True)


class LotOut(ma.Schema):
    lot_number = fields.String()
    on_hand = fields.Integer()


class InventoryOut(ma.Schema):
    patient_id = fields.Integer()
    on_hand = fields.Integer(metadata={"description": "Derived from the ledger, every lot together."})
    lots = fields.List(fields.Nested(LotOut))
    movements = fields.List(fields.Nested(MovementOut), metadata={"description": "Newest first."})


class ReleaseOverrideOut(ma.Schema):
    id = fields.Integer()
    patient_id = fields.Integer()
    authorized_by = fields.Nested(PersonOut)
    authorized_at = fields.AwareDateTime()
    reason = fields.String()
    blockers = fields.List(fields.String(), metadata={"description": "What held the release when authorized."})


class ReleaseOut(ma.Schema):
    patient_id = fields.Integer()
    held = fields.Boolean(metadata={"description": "The next package may not ship now."})
    blockers = fields.List(fields.String(), metadata={"description": "What holds the next package; empty: nothing."})
    authorization = fields.Nested(ReleaseOverrideOut, allow_none=True,
                                  metadata={"description": "A prescriber's release not yet used by a shipment."})


class QueueItemOut(ma.Schema):
    prescription = fields.Nested(PrescriptionSummary)
    fills_used = fields.Integer()
    fills_left = fields.Integer()
    unshipped = fields.List(fields.Nested(FillOut), metadata={"description": "Fills waiting to ship."})
    release_blockers = fields.List(fields.String(), attribute="blockers")
    release_authorization = fields.Nested(ReleaseOverrideOut, attribute="override", allow_none=True)
