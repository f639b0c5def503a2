"""marshmallow schemas at the API's edge: one per direction and audience; the pieces every room's
schemas share (`Strict`, `RepeatableList`, `PersonOut`) come first."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from telehealth.accounts.models import Role


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE  # a misspelt field is an error, not silently ignored


class RepeatableList(fields.List):
    """A query argument given repeated (`?state=open&state=acknowledged`) or as a comma list
    (`?state=open,acknowledged`). An unknown item is one plain message, not an error per index."""

    is_multiple = True  # webargs: collect every repetition in the query string, not just the first

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        raw = [value] if isinstance(value, str) else list(value or [])
        items = [part.strip() for item in raw for part in str(item).split(",") if part.strip()]
        result, errors = [], []
        for item in items:
            try:
                result.append(self.inner.deserialize(item, **kwargs))
            except ma.ValidationError as error:
                errors.extend(f"{item!r}: {message}" for message in _messages(error))
        if errors:
            raise ma.ValidationError(errors)
        return list(dict.fromkeys(result))  # each once, in the order given


def _messages(error: ma.ValidationError) -> list[str]:
    messages = error.messages
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


class PersonOut(ma.Schema):
    """A staff member as other records name them: who acted, who was paged."""

    id = fields.Integer()
    full_name = fields.String()


class TokenRequest(Strict):
    email = fields.String(required=True, validate=validate.Length(min=1, max=254))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)
    name = fields.String(load_default="api", validate=validate.Length(min=1, max=80))


class TokenCreated(ma.Schema):
    id = fields.Integer()
    token = fields.String(metadata={"description": "Shown once; send it as `Authorization: Bearer <token>`."})
    name = fields.String()
    expires_at = fields.AwareDateTime()


class UserCreate(Strict):
    email = fields.String(required=True)
    full_name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    role = fields.String(required=True, validate=validate.OneOf([r.value for r in Role if r is not Role.PATIENT]))
    phone = fields.String(load_default=None, allow_none=True)
    password = fields.String(required=True, load_only=True)


class UserOut(ma.Schema):
    id = fields.Integer()
    email = fields.String()
    full_name = fields.String()
    role = fields.Function(lambda user: user.role.value)
    phone = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.AwareDateTime()


class SitterCreate(Strict):
    full_name = fields.String(required=True, validate=validate.Length(max=120))
    phone = fields.String(required=True, validate=validate.Length(max=32),
                          metadata={"description": "The sitter's mobile number; a code is texted to it."})
    relationship_to_patient = fields.String(required=True, validate=validate.Length(max=60),
                                            metadata={"description": "Spouse, friend, parent..."})


class SitterOut(ma.Schema):
    id = fields.Integer()
    full_name = fields.String()
    phone = fields.String()
    relationship_to_patient = fields.String()
    phone_verified_at = fields.AwareDateTime(allow_none=True)
    active = fields.Boolean()


class PatientSummary(ma.Schema):
    id = fields.Integer()
    full_name = fields.String()
    status = fields.Function(lambda patient: patient.status.value)
    prescriber_id = fields.Integer()
    backup_prescriber_id = fields.Integer(allow_none=True)


class PatientOut(PatientSummary):
    date_of_birth = fields.Date()
    phone = fields.String(allow_none=True)
    address_line1 = fields.String()
    address_line2 = fields.String(allow_none=True)
    city = fields.String()
    region = fields.String()
    postal_code = fields.String()
    timezone = fields.String()
    sitters = fields.List(fields.Nested(SitterOut))
