"""What the compliance API returns: one schema per report line, and pages that carry the keyset
key to pass back as `after` for the next page (`next_after`, null on the last page)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields


class DispensingEntryOut(ma.Schema):
    dispensing_id = fields.Integer()
    dispensed_at = fields.AwareDateTime()
    dispensed_on = fields.Date(metadata={"description": "The clinic's calendar day."})
    patient_id = fields.Integer()
    patient = fields.String()
    patient_address = fields.String()
    drug = fields.String()
    strength_mg = fields.Integer()
    dosage_form = fields.String()
    quantity = fields.Integer()
    prescriber_id = fields.Integer()
    prescriber = fields.String()
    prescriber_dea_number = fields.String(metadata={"description": "As printed on the prescription when issued."})
    dispenser = fields.String()
    lot_number = fields.String()
    lot_expiry = fields.Date()
    fill_number = fields.Integer()
    prescription_id = fields.Integer()


class DispensingLogPageOut(ma.Schema):
    items = fields.List(fields.Nested(DispensingEntryOut))
    next_after = fields.Integer(allow_none=True)


class _ReconciliationFields(ma.Schema):
    dispensed = fields.Integer()
    opening = fields.Integer(metadata={"description": "On hand before the first day."})
    received = fields.Integer()
    taken = fields.Integer()
    wasted = fields.Integer()
    returned = fields.Integer()
    corrected = fields.Integer(metadata={"description": "Corrections, signed."})
    expected_on_hand = fields.Integer(metadata={"description": "The ledger at the end of the last day."})
    last_reported_on_hand = fields.Integer(allow_none=True)
    reported_at = fields.AwareDateTime(allow_none=True)
    expected_at_report = fields.Integer(allow_none=True, metadata={
        "description": "What the ledger held just before that count."})
    discrepancy = fields.Integer(allow_none=True, metadata={
        "description": "last_reported_on_hand - expected_at_report; negative: fewer found than expected."})


class ReconciliationPrescriptionOut(_ReconciliationFields):
    prescription = fields.Integer()
    patient_id = fields.Integer()
    patient = fields.String()
    prescriber = fields.String()
    drug = fields.String()
    strength_mg = fields.Integer()
    issued_on = fields.Date()
    prescribed = fields.Integer(metadata={"description": "Quantity per fill x (1 + refills)."})


class ReconciliationLotOut(_ReconciliationFields):
    lot = fields.String()
    lot_expiry = fields.Date()
    patients = fields.Integer()
    counts_tied_to_lot = fields.Integer()


class ReconciliationPrescriptionPageOut(ma.Schema):
    items = fields.List(fields.Nested(ReconciliationPrescriptionOut))
    next_after = fields.Integer(allow_none=True, metadata={"description": "The last prescription id of this page."})


class ReconciliationLotPageOut(ma.Schema):
    items = fields.List(fields.Nested(ReconciliationLotOut))
    next_after = fields.Integer(allow_none=True, metadata={"description": "The last lot's first dispensing id."})


class StatLineOut(ma.Schema):
    group = fields.String()
    value = fields.String()
    escalations = fields.Integer()
    acknowledged = fields.Integer()
    resolved = fields.Integer()
    median = fields.Float(allow_none=True, metadata={"description": "Seconds to acknowledge (percentile_cont 0.5)."})
    p90 = fields.Float(allow_none=True, metadata={"description": "Seconds to acknowledge (percentile_cont 0.9)."})
    mean = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)


class EscalationStatisticsOut(ma.Schema):
    all = fields.List(fields.Nested(StatLineOut))
    severity = fields.List(fields.Nested(StatLineOut))
    reason = fields.List(fields.Nested(StatLineOut))
    prescriber = fields.List(fields.Nested(StatLineOut))


class ChainStateOut(ma.Schema):
    sealed = fields.Integer()
    head_event_id = fields.Integer(allow_none=True)
    head_event_at = fields.AwareDateTime(allow_none=True)
    head_hash = fields.String(allow_none=True)
    waiting = fields.Integer()
    oldest_waiting_at = fields.AwareDateTime(allow_none=True)


class VerificationOut(ma.Schema):
    ok = fields.Boolean()
    sealed = fields.Integer()
    pending = fields.Integer()
    problem_count = fields.Integer()
    problems = fields.List(fields.String(), metadata={"description": "The first problems, in chain order."})
    head_seq = fields.Integer()
    head_hash = fields.Function(lambda report: report.head_hash.hex())
    seconds = fields.Float()


class AuditEventOut(ma.Schema):
    event_id = fields.Integer()
    occurred_at = fields.AwareDateTime()
    occurred_on = fields.Date(metadata={"description": "The clinic's calendar day."})
    actor_user_id = fields.Integer(allow_none=True, metadata={"description": "Null for the system or an unknown sender."})
    actor = fields.String(metadata={"description": "Who acted, as recorded at the time."})
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    patient_id = fields.Integer(allow_none=True)
    patient = fields.String(allow_none=True)
    client_address = fields.String(allow_none=True)
    details = fields.String(metadata={"description": "The details as stored: JSON with sorted keys."})
    seal = fields.Integer(allow_none=True, metadata={"description": "Its place in the chain; null while awaiting it."})


class AuditLogPageOut(ma.Schema):
    items = fields.List(fields.Nested(AuditEventOut))
    next_after = fields.Integer(allow_none=True, metadata={"description": "The last event id of this page."})
