"""`/api/v1` for prescribing (SPEC §3 steps 1–3): screenings and their overrides, issuing a
prescription, changing its status, reading and listing prescriptions with their fills.

The role lists here are coarse; the operations decide per patient (SPEC §10) and audit.
"""
from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.schemas import PrescriptionOut
from telehealth.errors import NotFound
from telehealth.prescriptions import operations as prescriptions
from telehealth.prescriptions.operations import PrescribingSettings
from telehealth.prescriptions.schemas import (OverrideRequest, PrescriptionCreate, PrescriptionQuery,
                                              PrescriptionSummary, ScreeningCreate, ScreeningOut, StatusChange)
from telehealth.web.auth import current_actor, token_required

blueprint = Blueprint("prescriptions_api", __name__, url_prefix="/api/v1",
                      description="Screenings and prescriptions")

READERS = (Role.PRESCRIBER, Role.PHARMACIST, Role.COMPLIANCE, Role.PATIENT)


@blueprint.route("/patients/<int:patient_id>/screenings")
class Screenings(MethodView):
    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(ScreeningCreate)
    @blueprint.response(201, ScreeningOut)
    @blueprint.alt_response(422, description="Out-of-range values, or an override reason with nothing to override")
    def post(self, body: dict, patient_id: int):
        """Record a screening: the contraindication checklist and the baseline. A newer screening
        supersedes older ones; a contraindication found blocks prescribing unless overridden."""
        return prescriptions.record_screening(get_session(), current_actor(), patient_id, **body)


@blueprint.route("/patients/<int:patient_id>/screenings/latest")
class LatestScreening(MethodView):
    @token_required(Role.PRESCRIBER, Role.COMPLIANCE)
    @blueprint.response(200, ScreeningOut)
    @blueprint.alt_response(404, description="No screening yet, or not your patient")
    def get(self, patient_id: int):
        """The screening in force. Audited as a read of the patient's record."""
        session = get_session()
        # `latest_screening` makes no access check: reading the record makes it, and audits.
        accounts.read_patient_record(session, current_actor(), patient_id)
        screening = prescriptions.latest_screening(session, patient_id)
        if screening is None:
            raise NotFound("No screening is recorded for this patient.")
        return screening


@blueprint.route("/screenings/<int:screening_id>/override")
class ScreeningOverride(MethodView):
    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(OverrideRequest)
    @blueprint.response(200, ScreeningOut)
    @blueprint.alt_response(409, description="Nothing to override, already overridden, or superseded")
    def post(self, body: dict, screening_id: int):
        """Clear prescribing despite the contraindications found, with a reason (audited)."""
        return prescriptions.override_screening(get_session(), current_actor(), screening_id, body["reason"])


@blueprint.route("/prescriptions")
class Prescriptions(MethodView):
    @token_required(*READERS)
    # webargs ignores unknown query arguments by default; a misspelt filter must not list everything.
    @blueprint.arguments(PrescriptionQuery, location="query", as_kwargs=True, unknown=ma.RAISE)
    @blueprint.response(200, PrescriptionSummary(many=True))
    def get(self, **filters):
        """Prescriptions, newest first: a prescriber's own and backed-up patients', every one for
        pharmacists and compliance, a patient's own. Staff reads are audited."""
        return prescriptions.list_prescriptions(get_session(), current_actor(), **filters)

    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(PrescriptionCreate)
    @blueprint.response(201, PrescriptionSummary)
    @blueprint.alt_response(422, description="Terms out of range, more than 5 refills, no DEA number, or a "
                                             "screening that does not clear prescribing")
    def post(self, body: dict):
        """Issue a Schedule III prescription for a patient in your care. It carries your DEA number
        and can be filled until 6 months after issue."""
        window_days = PrescribingSettings.from_config(current_app.config).fill_window_days
        return prescriptions.issue_prescription(get_session(), current_actor(), body.pop("patient_id"),
                                                window_days=window_days, **body)


@blueprint.route("/prescriptions/<int:prescription_id>")
class PrescriptionRecord(MethodView):
    @token_required(*READERS)
    @blueprint.response(200, PrescriptionOut)
    @blueprint.alt_response(404, description="No such prescription, or not yours to see")
    def get(self, prescription_id: int):
        """One prescription with its fills (lot, pharmacist, shipment)."""
        session = get_session()
        prescription = prescriptions.read_prescription(session, current_actor(), prescription_id)
        return {"prescription": prescription, "fills": dispensing.fills_for(session, prescription.id)}


@blueprint.route("/prescriptions/<int:prescription_id>/status")
class PrescriptionStatusChange(MethodView):
    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(StatusChange)
    @blueprint.response(200, PrescriptionSummary)
    @blueprint.alt_response(409, description="A transition the status does not allow")
    def post(self, body: dict, prescription_id: int):
        """Activate a draft, suspend, resume, complete or cancel (suspending and cancelling need a note)."""
        return prescriptions.change_prescription_status(get_session(), current_actor(), prescription_id,
                                                        body["status"], body["note"])
