"""`/api/v1` for accounts: tokens, who am I, staff accounts (admin), patients and their sitters."""
from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from telehealth.accounts import operations as accounts
from telehealth.accounts import sitters
from telehealth.accounts.models import Role
from telehealth.accounts.schemas import (PatientOut, PatientSummary, SitterCreate, SitterOut, TokenCreated,
                                         TokenRequest, UserCreate, UserOut)
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.web.auth import account_policy, client_address, current_actor, token_required
from telehealth.web.errors import error_response

blueprint = Blueprint("accounts_api", __name__, url_prefix="/api/v1", description="Accounts and patients")


@blueprint.route("/auth/tokens")
class Tokens(MethodView):
    @blueprint.arguments(TokenRequest)
    @blueprint.response(201, TokenCreated)
    @blueprint.alt_response(401, description="Wrong email or password")
    @blueprint.alt_response(429, description="Too many failed attempts; see Retry-After")
    @blueprint.doc(security=[])
    def post(self, body: dict):
        """Exchange an email and password for a bearer token."""
        session = get_session()
        outcome = accounts.log_in(session, account_policy(), email=body["email"], password=body["password"],
                                  client_address=client_address())
        # Returned, not raised: the failed attempt must be committed to count towards the lockout.
        if outcome.retry_after_seconds is not None:
            return error_response(429, "Too many failed attempts. Try again later.",
                                  headers={"Retry-After": str(outcome.retry_after_seconds)})
        if not outcome.succeeded:
            return error_response(401, "That email and password do not match an active account.",
                                  headers={"WWW-Authenticate": 'Bearer realm="api"'})
        row, token = accounts.issue_api_token(session, Actor.for_user(outcome.user, client_address()),
                                              account_policy(), outcome.user, name=body["name"])
        return {"id": row.id, "token": token, "name": row.name, "expires_at": row.expires_at}


@blueprint.route("/auth/tokens/current")
class CurrentToken(MethodView):
    @token_required()
    @blueprint.response(204)
    def delete(self):
        """Revoke the token this request is made with."""
        accounts.revoke_api_token(get_session(), current_actor(), g.api_token)


@blueprint.route("/me")
class Me(MethodView):
    @token_required()
    @blueprint.response(200, UserOut)
    def get(self):
        """The account this token belongs to."""
        return g.api_user


@blueprint.route("/users")
class Users(MethodView):
    @token_required(Role.ADMIN)
    @blueprint.arguments(UserCreate)
    @blueprint.response(201, UserOut)
    def post(self, body: dict):
        """Create a staff account (administrators only)."""
        return accounts.create_user(get_session(), current_actor(), account_policy(), **body)


@blueprint.route("/patients")
class Patients(MethodView):
    @token_required(Role.PRESCRIBER, Role.COMPLIANCE)
    @blueprint.response(200, PatientSummary(many=True))
    def get(self):
        """Patients in your care (prescribers) or every patient (compliance)."""
        return accounts.list_patients(get_session(), current_actor())


@blueprint.route("/patients/<int:patient_id>")
class PatientRecord(MethodView):
    @token_required(Role.PRESCRIBER, Role.COMPLIANCE, Role.PATIENT)
    @blueprint.response(200, PatientOut)
    def get(self, patient_id: int):
        """One patient's record. Every staff read is audited."""
        return accounts.read_patient_record(get_session(), current_actor(), patient_id)


# Sitters are managed by the patient or their prescriber (the operations check which patient).
SITTER_MANAGERS = (Role.PRESCRIBER, Role.PATIENT)


def _sitter_settings() -> sitters.SitterSettings:
    return sitters.SitterSettings.from_config(current_app.config)


@blueprint.route("/patients/<int:patient_id>/sitters")
class PatientSitters(MethodView):
    @token_required(*SITTER_MANAGERS)
    @blueprint.arguments(SitterCreate)
    @blueprint.response(201, SitterOut)
    @blueprint.alt_response(422, description="A bad phone number, one already in use, or a missing name")
    def post(self, body: dict, patient_id: int):
        """Register a sitter. Their phone is texted a code; texting it back verifies the phone and
        records their consent."""
        return sitters.register_sitter(get_session(), current_actor(), account_policy(), _sitter_settings(),
                                       patient_id, **body)


@blueprint.route("/sitters/<int:sitter_id>/resend-code")
class ResendSitterCode(MethodView):
    @token_required(*SITTER_MANAGERS)
    @blueprint.response(200, SitterOut)
    @blueprint.alt_response(409, description="The phone is already verified, or the sitter is inactive")
    def post(self, sitter_id: int):
        """Text a fresh code; the earlier one stops working."""
        return sitters.resend_code(get_session(), current_actor(), _sitter_settings(), sitter_id)


@blueprint.route("/sitters/<int:sitter_id>/deactivate")
class DeactivateSitter(MethodView):
    @token_required(*SITTER_MANAGERS)
    @blueprint.response(200, SitterOut)
    def post(self, sitter_id: int):
        """The sitter no longer sits for this patient (repeating it changes nothing)."""
        return sitters.deactivate_sitter(get_session(), current_actor(), sitter_id)
