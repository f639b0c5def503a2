"""marshmallow schemas at the dose-session API's edge: booking, cancelling, releasing a hold, the
patient's questionnaire, and sessions with their check-ins and deadlines.

Unknown fields are refused (422). Whether an answer is readable, a booking within the
prescription's limits or a note present is the rules' to say (`dosing.rules`, the verbs), in
the same field-error shape.
"""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from telehealth.accounts.schemas import Strict
from telehealth.dosing.models import Channel, DeadlineKind, DeadlineState
from telehealth.dosing.operations import Outcome
from telehealth.dosing.rules import ANSWER_KEYS, BY_KEY, NOT_A_QUESTION, Questionnaire, SessionState
from telehealth.escalations.rules import Reason, Severity, State

ANSWER_HELP = {
    "blood_pressure": '"128/82" (top 60-260, bottom 30-160)',
    "blood_pressure_recheck": '"128/82", measured again after resting (pre-dose, when the first was high)',
    "pulse": "30 to 220",
    "substances": "true/false or \"Y\"/\"N\": alcohol, sedatives, opioids or other drugs in the last 24 h",
    "self_harm": "true/false or \"Y\"/\"N\"",
    "mood": "0 to 10",
    "on_hand": "the count on hand, 0 to 500",
    "chest_pain": "true/false or \"Y\"/\"N\"",
    "nausea": "0 (none) to 3 (vomiting)",
    "dissociation": "0 (none) to 10 (severe)",
}


class WallClockTime(fields.Time):
    """A time of day as the patient's clock shows it. One with a UTC offset ("09:00Z") is another
    moment than 9 AM the patient's time, so it is refused rather than read without its offset."""

    default_error_messages = {"offset": "Send HH:MM in the patient's own time, without a UTC offset."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        at = super()._deserialize(value, attr, data, **kwargs)
        if at.tzinfo is not None:
            raise self.make_error("offset")
        return at


class BookRequest(Strict):
    scheduled_at = fields.AwareDateTime(metadata={"description": "When, with its offset; stored in UTC."})
    local_date = fields.Date(metadata={"description": "Or a date and a time in the patient's own zone."})
    local_time = WallClockTime(metadata={"description": "HH:MM in the patient's own zone (no offset), "
                                                        "with `local_date`."})

    @ma.validates_schema
    def one_way_of_saying_when(self, data: dict[str, Any], **_: Any) -> None:
        local = [name for name in ("local_date", "local_time") if name in data]
        if "scheduled_at" in data and local:
            raise ma.ValidationError("Give `scheduled_at`, or `local_date` and `local_time`, not both.",
                                     "scheduled_at")
        if "scheduled_at" not in data and len(local) != 2:
            raise ma.ValidationError("Give `scheduled_at`, or `local_date` and `local_time`.", "scheduled_at")


class CancelRequest(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class HoldReleaseRequest(Strict):
    note = fields.String(required=True, metadata={"description": "Why the session may go ahead (audited)."})


# Answers by question; each is read as its SMS answer is (a string, a whole number, or a boolean).
AnswersIn = Strict.from_dict({key: fields.Raw(metadata={"description": ANSWER_HELP[key]}) for key in BY_KEY},
                             name="AnswersIn")


class QuestionnaireRequest(Strict):
    questionnaire = fields.Enum(Questionnaire, by_value=True, required=True,
                                metadata={"description": "The one due now: pre_dose, or post_dose after the dose."})
    answers = fields.Nested(AnswersIn, required=True,
                            metadata={"description": "Every question still open (those answered by SMS keep their "
                                                     "first answer). While resting before the recheck, leave "
                                                     "`blood_pressure_recheck` out."})

    @ma.validates_schema
    def answers_of_this_questionnaire(self, data: dict[str, Any], **_: Any) -> None:
        """An answer to the other questionnaire (chest pain with the pre-dose answers) is refused,
        not dropped: this questionnaire's rules would never read it, whatever it says."""
        if "questionnaire" not in data or "answers" not in data:
            return
        others = sorted(set(data["answers"]) - ANSWER_KEYS[data["questionnaire"]])
        if others:
            raise ma.ValidationError({key: [NOT_A_QUESTION] for key in others}, "answers")


class EscalationBrief(ma.Schema):
    id = fields.Integer()
    reason = fields.Enum(Reason, by_value=True)
    severity = fields.Enum(Severity, by_value=True)
    state = fields.Enum(State, by_value=True)


class SessionOut(ma.Schema):
    """A session, with its open escalations (the "escalated" flag)."""

    id = fields.Integer()
    patient_id = fields.Integer()
    prescription_id = fields.Integer()
    sitter_id = fields.Integer()
    dose_number = fields.Integer(metadata={"description": "Its place in the series, from 1."})
    scheduled_at = fields.AwareDateTime()
    scheduled_local = fields.String(metadata={"description": "The booked time as the patient reads it."})
    state = fields.Enum(SessionState, by_value=True)
    escalated = fields.Boolean()
    open_escalations = fields.List(fields.Nested(EscalationBrief))
    window_opened_at = fields.AwareDateTime(allow_none=True)
    sitter_arrived_at = fields.AwareDateTime(allow_none=True)
    pre_dose_completed_at = fields.AwareDateTime(allow_none=True)
    cleared_at = fields.AwareDateTime(allow_none=True)
    held_at = fields.AwareDateTime(allow_none=True)
    dosed_at = fields.AwareDateTime(allow_none=True)
    post_dose_completed_at = fields.AwareDateTime(allow_none=True)
    released_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    hold_findings = fields.List(fields.String(), allow_none=True)
    hold_release_note = fields.String(allow_none=True)
    end_reason = fields.String(allow_none=True)

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        """`obj` is `{"session": DoseSession, "escalations": [...]}` (see api.record)."""
        if attr in ("open_escalations", "escalated", "scheduled_local"):
            return obj[attr]
        return super().get_attribute(obj["session"], attr, default)


class CheckInOut(ma.Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "\"pre_dose.<question>\", \"post_dose.<question>\", or an act: "
                                                  "sitter_arrived, dose_taken, observation_ok, release."})
    by = fields.String()
    channel = fields.Enum(Channel, by_value=True)
    received_at = fields.AwareDateTime()
    value = fields.Raw(attribute="payload.value", allow_none=True)
    findings = fields.List(fields.String(), attribute="payload.findings", allow_none=True)


class DeadlineOut(ma.Schema):
    id = fields.Integer()
    kind = fields.Enum(DeadlineKind, by_value=True)
    due_at = fields.AwareDateTime()
    state = fields.Enum(DeadlineState, by_value=True)
    settled_at = fields.AwareDateTime(allow_none=True)
    note = fields.String(allow_none=True)


class SessionDetailOut(SessionOut):
    check_ins = fields.List(fields.Nested(CheckInOut))
    deadlines = fields.List(fields.Nested(DeadlineOut))


class CheckInResultOut(ma.Schema):
    outcome = fields.Enum(Outcome, by_value=True)
    messages = fields.List(fields.String(), metadata={"description": "What to tell the patient, in words."})
    question = fields.String(allow_none=True, metadata={"description": "The question to answer next, if any."})
    at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "Cleared: take it by then. Resting: measure again then. Taken: the post-dose report opens then."})
    problem = fields.String(allow_none=True)
    crisis = fields.Boolean(metadata={"description": "Show the crisis lines (988, 911)."})
    session = fields.Nested(SessionOut)
