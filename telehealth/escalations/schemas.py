"""marshmallow schemas at the escalations API's edge: the list's filters, a resolution, and what
prescribers and compliance staff read back."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from telehealth.accounts.schemas import PersonOut, RepeatableList, Strict
from telehealth.escalations.rules import Outcome, Reason, Severity, State

QUEUE_STATES = (State.OPEN, State.ACKNOWLEDGED)  # what "the queue" means when no state is asked for


class EscalationQuery(Strict):
    state = RepeatableList(fields.Enum(State, by_value=True), load_default=list,
                           metadata={"description": "Repeat it or give a comma list. Without it: open and "
                                                    "acknowledged, the queue."})
    severity = fields.Enum(Severity, by_value=True, load_default=None)
    patient_id = fields.Integer(load_default=None, validate=validate.Range(min=1))
    reason = fields.Enum(Reason, by_value=True, load_default=None)

    @ma.post_load
    def queue_by_default(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["states"] = data.pop("state") or list(QUEUE_STATES)
        return data


class ResolveRequest(Strict):
    outcome = fields.Enum(Outcome, by_value=True, required=True)
    note = fields.String(required=True, validate=validate.Length(max=2000),
                         metadata={"description": "What happened. Required, not blank."})


class EventOut(ma.Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    kind = fields.Function(lambda event: event.kind.value)
    actor = fields.Nested(PersonOut, allow_none=True)
    recipient = fields.Nested(PersonOut, allow_none=True)
    message_status = fields.Function(lambda event: event.message.status.value if event.message else None,
                                     metadata={"description": "A page's delivery status: queued, sending, "
                                                              "sent, delivered, undelivered, failed, cancelled."})
    details = fields.Dict()


class EscalationSummary(ma.Schema):
    id = fields.Integer(metadata={"description": "The alert's number, as in `ACK 482`."})
    severity = fields.Enum(Severity, by_value=True)
    reason = fields.Enum(Reason, by_value=True)
    reason_label = fields.Function(lambda escalation: escalation.reason.label)
    state = fields.Enum(State, by_value=True)
    patient_id = fields.Integer()
    patient_name = fields.Function(lambda escalation: escalation.patient.full_name)
    session_id = fields.Integer(allow_none=True)
    dose_number = fields.Integer(allow_none=True)
    opened_at = fields.AwareDateTime()
    trigger_count = fields.Integer()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    acknowledged_by = fields.Nested(PersonOut, allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.Nested(PersonOut, allow_none=True)
    outcome = fields.Enum(Outcome, by_value=True, allow_none=True)
    outcome_label = fields.Function(lambda escalation: escalation.outcome.label if escalation.outcome else None)
    resolution_note = fields.String(allow_none=True)
    next_page_at = fields.AwareDateTime(allow_none=True)


class EscalationOut(EscalationSummary):
    timeline = fields.List(fields.Nested(EventOut))
