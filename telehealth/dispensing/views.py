"""Dispensing pages (SPEC §3 steps 4–5). The pharmacist's queue and fill page: dispense with a lot,
ship, mark delivered, report a package lost and record the DEA filings, record a return. The
prescriber's release authorization and loss report on the patient page, and the patient's receipt
with the count they found. Each view parses, calls one operation, then redirects with a message
or renders its page again with the form's errors."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.dispensing import inventory
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.forms import (DispenseForm, LossFilingsForm, LostForm, ReceiptForm, ReleaseForm,
                                         ReturnForm, ShipForm)
from telehealth.dispensing.models import Dispensing, Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.errors import NotFound
from telehealth.prescriptions.models import Prescription
from telehealth.prescriptions.operations import read_prescription
from telehealth.web.auth import acting_user, current_actor, login_required
from telehealth.web.forms import ButtonForm, PageForms, Posted, submit
from telehealth.web.record_pages import my_record_page, patient_record_page

blueprint = Blueprint("dispensing", __name__)

FILL_PAGE_FORMS = {"dispense": DispenseForm, "ship": ShipForm, "delivered": ButtonForm, "lost": LostForm,
                   "filings": LossFilingsForm, "return": ReturnForm}


def _settings() -> DispensingSettings:
    return DispensingSettings.from_config(current_app.config)


@blueprint.get("/pharmacy")
@login_required(Role.PHARMACIST)
def queue() -> str:
    items = dispensing.pharmacy_queue(get_session(), current_actor(), _settings())
    return render_template("dispensing/queue.html", items=items)


@blueprint.get("/pharmacy/prescriptions/<int:prescription_id>")
@login_required(Role.PHARMACIST)
def fill_page(prescription_id: int) -> tuple[str, int]:
    return _fill_page(prescription_id)


def _fill_page(prescription_id: int, status: int = 200, posted: Posted | None = None) -> tuple[str, int]:
    """The prescription's Schedule III record, its fills, the patient's packages and what holds the
    next one, with the pharmacist's forms. The reads are audited by their operations."""
    session, actor = get_session(), current_actor()
    prescription = read_prescription(session, actor, prescription_id)
    patient_id = prescription.patient_id
    forms = PageForms(FILL_PAGE_FORMS, posted)
    lots = inventory.on_hand_by_lot(session, patient_id)
    return render_template("dispensing/fill.html", prescription=prescription, patient=prescription.patient,
                           fills=dispensing.fills_for(session, prescription.id),
                           shipments=dispensing.shipments_for(session, actor, patient_id),
                           release=dispensing.release_status(session, actor, patient_id),
                           on_hand_by_lot=lots, return_form=forms("return").offering(lots), forms=forms), status


def _back_to_fill_page(prescription_id: int) -> Response:
    return redirect(url_for("dispensing.fill_page", prescription_id=prescription_id))


def _prescription_of(model: type[Dispensing] | type[Shipment], row_id: int) -> int:
    """Which fill page a fill's or a package's form is on."""
    query = sa.select(Dispensing.prescription_id)
    if model is Shipment:
        query = query.join(Shipment, Shipment.dispensing_id == Dispensing.id).where(Shipment.id == row_id)
    else:
        query = query.where(Dispensing.id == row_id)
    prescription_id = get_session().scalar(query)
    if prescription_id is None:
        raise NotFound(f"No such {'package' if model is Shipment else 'fill'}.")
    return prescription_id


@blueprint.post("/pharmacy/prescriptions/<int:prescription_id>/fills")
@login_required(Role.PHARMACIST)
def dispense(prescription_id: int) -> Response | tuple[str, int]:
    form = DispenseForm()
    outcome = submit(form, lambda: dispensing.dispense(
        get_session(), current_actor(), _settings(), prescription_id, quantity=form.quantity.number,
        lot_number=form.lot_number.data or "", lot_expiry=form.lot_expiry.data))
    if outcome.failed:
        return _fill_page(prescription_id, outcome.status, outcome.posted("dispense"))
    fill = outcome.value
    flash(f"Fill {fill.fill_number} dispensed: {fill.quantity} from lot {fill.lot_number}. Ship it below.")
    return _back_to_fill_page(prescription_id)


@blueprint.post("/pharmacy/fills/<int:dispensing_id>/ship")
@login_required(Role.PHARMACIST)
def ship(dispensing_id: int) -> Response | tuple[str, int]:
    form = ShipForm()
    outcome = submit(form, lambda: dispensing.ship(get_session(), current_actor(), _settings(), dispensing_id,
                                                   carrier=form.carrier.data or "",
                                                   tracking_number=form.tracking_number.data or ""))
    prescription_id = _prescription_of(Dispensing, dispensing_id)
    if outcome.failed:
        return _fill_page(prescription_id, outcome.status, outcome.posted("ship", dispensing_id))
    flash(f"Shipped by {outcome.value.carrier}, tracking {outcome.value.tracking_number}. "
          "The patient is texted to count it when it arrives.")
    return _back_to_fill_page(prescription_id)


@blueprint.post("/shipments/<int:shipment_id>/delivered")
@login_required(Role.PHARMACIST)
def mark_delivered(shipment_id: int) -> Response | tuple[str, int]:
    form = ButtonForm()
    outcome = submit(form, lambda: dispensing.mark_delivered(get_session(), current_actor(), _settings(),
                                                             shipment_id))
    prescription_id = _prescription_of(Shipment, shipment_id)
    if outcome.failed:
        return _fill_page(prescription_id, outcome.status, outcome.posted("delivered", shipment_id))
    flash(f"Package {shipment_id} delivered: the patient is asked to count it.")
    return _back_to_fill_page(prescription_id)


@blueprint.post("/shipments/<int:shipment_id>/lost")
@login_required(Role.PHARMACIST, Role.PRESCRIBER)
def report_lost(shipment_id: int) -> Response | tuple[str, int]:
    """From the fill page (pharmacist) or the patient page (prescriber): back to the same page."""
    form = LostForm()
    outcome = submit(form, lambda: dispensing.report_lost(get_session(), current_actor(), _settings(),
                                                          shipment_id, form.note.data or ""))
    from_pharmacy = current_actor().role == Role.PHARMACIST.value
    if outcome.failed:
        posted = outcome.posted("lost", shipment_id)
        if from_pharmacy:
            return _fill_page(_prescription_of(Shipment, shipment_id), outcome.status, posted)
        patient_id = get_session().scalar(sa.select(Shipment.patient_id).where(Shipment.id == shipment_id))
        if patient_id is None:
            raise NotFound("No such package.")
        return patient_record_page(patient_id, outcome.status, posted)
    flash(f"Package {shipment_id} reported lost. An urgent compliance alert tracks the DEA notice "
          "(within 1 business day) and Form 106 (within 45 days).")
    if from_pharmacy:
        return _back_to_fill_page(_prescription_of(Shipment, shipment_id))
    return redirect(url_for("accounts.patient_record", patient_id=outcome.value.patient_id))


@blueprint.post("/shipments/<int:shipment_id>/loss-filings")
@login_required(Role.PHARMACIST, Role.COMPLIANCE)
def record_loss_filings(shipment_id: int) -> Response | tuple[str, int]:
    """From the fill page (pharmacist) or the patient page (compliance): back to the same page."""
    form = LossFilingsForm()
    outcome = submit(form, lambda: dispensing.record_loss_filings(
        get_session(), current_actor(), shipment_id, dea_notice_on=form.dea_notice_on.data,
        form_106_filed_on=form.form_106_filed_on.data, form_106_number=form.form_106_number.data))
    if current_actor().role == Role.COMPLIANCE.value:
        patient_id = get_session().scalar(sa.select(Shipment.patient_id).where(Shipment.id == shipment_id))
        if patient_id is None:
            raise NotFound("No such package.")
        if outcome.failed:
            return patient_record_page(patient_id, outcome.status, outcome.posted("filings", shipment_id))
        flash(f"DEA filing recorded for package {shipment_id}.")
        return redirect(url_for("accounts.patient_record", patient_id=patient_id, _anchor="packages"))
    prescription_id = _prescription_of(Shipment, shipment_id)
    if outcome.failed:
        return _fill_page(prescription_id, outcome.status, outcome.posted("filings", shipment_id))
    flash(f"DEA filing recorded for package {shipment_id}.")
    return _back_to_fill_page(prescription_id)


@blueprint.post("/pharmacy/prescriptions/<int:prescription_id>/returns")
@login_required(Role.PHARMACIST)
def record_return(prescription_id: int) -> Response | tuple[str, int]:
    form = ReturnForm()
    # The patient's ledger, not the prescription's: any lot they hold may come back.
    patient_id = get_session().scalar(sa.select(Prescription.patient_id).where(Prescription.id == prescription_id))
    if patient_id is None:
        raise NotFound(f"No prescription {prescription_id}.")
    outcome = submit(form, lambda: inventory.record_return(
        get_session(), current_actor(), patient_id, lot_number=form.lot_number.data or "",
        quantity=form.quantity.number, note=form.note.data))
    if outcome.failed:
        return _fill_page(prescription_id, outcome.status, outcome.posted("return"))
    flash(f"Return recorded: {-outcome.value.quantity} from lot {outcome.value.lot_number}.")
    return _back_to_fill_page(prescription_id)


@blueprint.post("/patients/<int:patient_id>/release")
@login_required(Role.PRESCRIBER)
def authorize_release(patient_id: int) -> Response | tuple[str, int]:
    form = ReleaseForm()
    outcome = submit(form, lambda: dispensing.authorize_release(get_session(), current_actor(), patient_id,
                                                                form.reason.data or ""))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("release"))
    flash("Release authorized: the pharmacy may ship the next package.")
    return redirect(url_for("accounts.patient_record", patient_id=patient_id))


@blueprint.post("/me/shipments/<int:shipment_id>/receipt")
@login_required(Role.PATIENT)
def confirm_receipt(shipment_id: int) -> Response | tuple[str, int]:
    form = ReceiptForm()
    patient = acting_user().patient
    if patient is None:
        raise NotFound("Your patient record is not set up yet. Please call the clinic.")
    outcome = submit(form, lambda: dispensing.confirm_receipt(
        get_session(), current_actor(), _settings(), patient_id=patient.id, count=form.count.number,
        channel="web", shipment_id=shipment_id))
    if outcome.failed:
        return my_record_page(outcome.status, outcome.posted("receipt", shipment_id))
    flash(f"Thank you: {outcome.value.received_count} counted and recorded.")
    return redirect(url_for("accounts.my_record"))
