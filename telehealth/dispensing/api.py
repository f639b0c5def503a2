"""`/api/v1` for dispensing (SPEC §3 steps 4–5, 7): the pharmacy's queue, fills, shipments and
staged release, the patient's receipt, loss in transit with its DEA filings, and the inventory
ledger (on hand, counts, waste, returns).

The role lists here are coarse; the operations decide per patient (SPEC §10) and audit.
"""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from telehealth.accounts.models import Role
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.db import get_session
from telehealth.dispensing import inventory
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dispensing.schemas import (CorrectionRequest, CountRequest, DispenseRequest, FillOut, InventoryOut,
                                           LossFilingsRequest, LostRequest, MovementOut, QueueItemOut, ReceiptRequest, ReleaseOut,
                                           ReleaseOverrideOut, ReleaseRequest, ReturnRequest, ShipmentOut,
                                           ShipRequest, WasteRequest)
from telehealth.web.auth import acting_user, current_actor, token_required

blueprint = Blueprint("dispensing_api", __name__, url_prefix="/api/v1",
                      description="Dispensing, shipments, receipt and the inventory ledger")

STAFF_READERS = (Role.PRESCRIBER, Role.PHARMACIST, Role.COMPLIANCE)
LEDGER_READERS = (*STAFF_READERS, Role.PATIENT)
LEDGER_WRITERS = (Role.PATIENT, Role.PRESCRIBER, Role.PHARMACIST)


def _settings() -> DispensingSettings:
    return DispensingSettings.from_config(current_app.config)


# --- the pharmacy ------------------------------------------------------------------------

@blueprint.route("/pharmacy/queue")
class PharmacyQueue(MethodView):
    @token_required(Role.PHARMACIST)
    @blueprint.response(200, QueueItemOut(many=True))
    def get(self):
        """Active prescriptions with fills left, and fills waiting to ship, each with what holds
        the patient's next package. Audited."""
        return dispensing.pharmacy_queue(get_session(), current_actor(), _settings())


@blueprint.route("/prescriptions/<int:prescription_id>/dispensings")
class Dispensings(MethodView):
    # Prescribers are let through so that the operation refuses them by name: segregation of duties.
    @token_required(Role.PHARMACIST, Role.PRESCRIBER)
    @blueprint.arguments(DispenseRequest)
    @blueprint.response(201, FillOut)
    @blueprint.alt_response(403, description="Not a pharmacist, or the prescription's own prescriber")
    @blueprint.alt_response(422, description="No fills left, past the fill window, or an expired lot")
    def post(self, body: dict, prescription_id: int):
        """Fill the prescription from a lot. Each fill uses the first fill or a refill."""
        return dispensing.dispense(get_session(), current_actor(), _settings(), prescription_id, **body)


@blueprint.route("/dispensings/<int:dispensing_id>/shipment")
class Shipping(MethodView):
    @token_required(Role.PHARMACIST)
    @blueprint.arguments(ShipRequest)
    @blueprint.response(201, ShipmentOut)
    @blueprint.alt_response(409, description="Already shipped, or held by staged release (see `errors.release`)")
    def post(self, body: dict, dispensing_id: int):
        """Mail the fill to the patient, who is texted. Held while an earlier session's record is
        incomplete or an alert on the patient is open, unless a prescriber authorized the release."""
        return dispensing.ship(get_session(), current_actor(), _settings(), dispensing_id, **body)


@blueprint.route("/shipments/<int:shipment_id>/delivered")
class Delivered(MethodView):
    @token_required(Role.PHARMACIST)
    @blueprint.response(200, ShipmentOut)
    @blueprint.alt_response(409, description="Not in transit")
    def post(self, shipment_id: int):
        """The carrier delivered it: the patient is asked to count it, and has 3 days to."""
        return dispensing.mark_delivered(get_session(), current_actor(), _settings(), shipment_id)


@blueprint.route("/shipments/<int:shipment_id>/receipt")
class Receipt(MethodView):
    @token_required(Role.PATIENT)
    @blueprint.arguments(ReceiptRequest)
    @blueprint.response(200, ShipmentOut)
    @blueprint.alt_response(404, description="No such package, or not yours")
    @blueprint.alt_response(409, description="Already received, or reported lost")
    def post(self, body: dict, shipment_id: int):
        """The patient confirms the package with the count they found; it goes on hand. A count
        different from what was shipped raises a compliance alert."""
        patient = acting_user().patient  # type: ignore[union-attr]  # the role check ensures a patient
        return dispensing.confirm_receipt(get_session(), current_actor(), _settings(), patient_id=patient.id,
                                          count=body["count"], channel="api", shipment_id=shipment_id)


@blueprint.route("/shipments/<int:shipment_id>/lost")
class Lost(MethodView):
    @token_required(*STAFF_READERS)
    @blueprint.arguments(LostRequest)
    @blueprint.response(200, ShipmentOut)
    @blueprint.alt_response(409, description="Already received or reported lost")
    def post(self, body: dict, shipment_id: int):
        """A package lost or never delivered: an urgent compliance alert that stays open until the
        DEA notice and Form 106 are recorded."""
        return dispensing.report_lost(get_session(), current_actor(), _settings(), shipment_id, body["note"])


@blueprint.route("/shipments/<int:shipment_id>/loss-filings")
class LossFilings(MethodView):
    @token_required(Role.PHARMACIST, Role.COMPLIANCE)
    @blueprint.arguments(LossFilingsRequest)
    @blueprint.response(200, ShipmentOut)
    @blueprint.alt_response(409, description="The shipment is not reported lost")
    def post(self, body: dict, shipment_id: int):
        """Record the DEA notice date, the Form 106 filing (date and number), or both. A date once
        recorded is not changed."""
        return dispensing.record_loss_filings(get_session(), current_actor(), shipment_id, **body)


# --- a patient's packages, ledger and release ----------------------------------------------

@blueprint.route("/patients/<int:patient_id>/shipments")
class PatientShipments(MethodView):
    @token_required(*LEDGER_READERS)
    @blueprint.response(200, ShipmentOut(many=True))
    def get(self, patient_id: int):
        """The patient's packages, newest first. Staff reads are audited."""
        return dispensing.shipments_for(get_session(), current_actor(), patient_id)


@blueprint.route("/patients/<int:patient_id>/inventory")
class Inventory(MethodView):
    @token_required(*LEDGER_READERS)
    @blueprint.response(200, InventoryOut)
    def get(self, patient_id: int):
        """On hand, in total and by lot, derived from the ledger; and the ledger's newest 500
        movements. Staff reads are audited."""
        session = get_session()
        movements = inventory.ledger(session, current_actor(), patient_id)  # checks access first
        lots = inventory.on_hand_by_lot(session, patient_id)
        return {"patient_id": patient_id, "on_hand": sum(lots.values()), "movements": movements,
                "lots": [{"lot_number": lot, "on_hand": left} for lot, left in lots.items()]}


@blueprint.route("/patients/<int:patient_id>/inventory/count")
class InventoryCount(MethodView):
    @token_required(*LEDGER_WRITERS)
    @blueprint.arguments(CountRequest)
    @blueprint.response(201, MovementOut)
    def post(self, body: dict, patient_id: int):
        """Report what was counted on hand. It moves nothing; a count that differs from the ledger
        puts a low compliance alert on the dashboard."""
        return inventory.report_count(get_session(), current_actor(), _settings(), patient_id, body["count"],
                                      channel="api")


@blueprint.route("/patients/<int:patient_id>/inventory/waste")
class InventoryWaste(MethodView):
    @token_required(*LEDGER_WRITERS)
    @blueprint.arguments(WasteRequest)
    @blueprint.response(201, MovementOut)
    def post(self, body: dict, patient_id: int):
        """Lozenges of a lot destroyed, with a witness."""
        return inventory.record_waste(get_session(), current_actor(), patient_id, **body)


@blueprint.route("/patients/<int:patient_id>/inventory/returns")
class InventoryReturns(MethodView):
    @token_required(Role.PHARMACIST)
    @blueprint.arguments(ReturnRequest)
    @blueprint.response(201, MovementOut)
    def post(self, body: dict, patient_id: int):
        """Lozenges of a lot returned to the pharmacy, recorded by the pharmacist who received them."""
        return inventory.record_return(get_session(), current_actor(), patient_id, **body)


@blueprint.route("/patients/<int:patient_id>/inventory/corrections")
class InventoryCorrections(MethodView):
    @token_required(Role.PHARMACIST)
    @blueprint.arguments(CorrectionRequest)
    @blueprint.response(201, MovementOut)
    def post(self, body: dict, patient_id: int):
        """Correct a ledger entry: a new entry naming it, with the signed change and the reason.
        No entry is ever edited or deleted."""
        return inventory.correct_entry(get_session(), current_actor(), _settings(), patient_id, **body)


@blueprint.route("/patients/<int:patient_id>/release")
class Release(MethodView):
    @token_required(*STAFF_READERS)
    @blueprint.response(200, ReleaseOut)
    @blueprint.alt_response(404, description="No such patient, or not in your care")
    def get(self, patient_id: int):
        """What holds the patient's next package, and any prescriber's release not yet used. Audited."""
        session, actor = get_session(), current_actor()
        status = dispensing.release_status(session, actor, patient_id)  # checks access first
        record(session, actor, AuditAction.RELEASE_STATUS_READ, object_type="patient", object_id=patient_id,
               patient_id=patient_id, details={"held": status.held})
        return {"patient_id": patient_id, "blockers": status.blockers, "authorization": status.override,
                "held": status.held}


@blueprint.route("/patients/<int:patient_id>/release-authorizations")
class ReleaseAuthorizations(MethodView):
    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(ReleaseRequest)
    @blueprint.response(201, ReleaseOverrideOut)
    @blueprint.alt_response(409, description="Nothing holds the release, or one is already authorized")
    def post(self, body: dict, patient_id: int):
        """Let the patient's next package leave although something holds it, with a reason
        (audited). One shipment uses it up."""
        return dispensing.authorize_release(get_session(), current_actor(), patient_id, body["reason"])
