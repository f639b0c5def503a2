"""marshmallow schemas at the API's edge: one per direction and audience."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from telehealth.accounts.models import Role


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE  # a misspelt field is an error, not silently ignored


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
