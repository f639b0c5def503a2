"""The prescriber's forms on the patient page (SPEC §3 steps 1–3): record a screening, override
it, issue a prescription, change its status. Each view parses, calls one operation, and goes back
to the patient page: with a message when done, or showing the form again with its errors."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, url_for
from werkzeug.wrappers import Response

from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.errors import NotFound
from telehealth.prescriptions import operations as prescribing
from telehealth.prescriptions.forms import OverrideForm, PrescriptionForm, ScreeningForm, StatusForm
from telehealth.prescriptions.models import Prescription, Screening
from telehealth.prescriptions.operations import PrescribingSettings
from telehealth.web.auth import current_actor, login_required
from telehealth.web.forms import submit
from telehealth.web.record_pages import patient_record_page

blueprint = Blueprint("prescriptions", __name__)


def _back(patient_id: int) -> Response:
    return redirect(url_for("accounts.patient_record", patient_id=patient_id))


def _patient_of(model: type[Screening] | type[Prescription], row_id: int) -> int:
    """Whose page shows a form's errors again (reading that page checks who may see it)."""
    patient_id = get_session().scalar(sa.select(model.patient_id).where(model.id == row_id))
    if patient_id is None:
        raise NotFound(f"No such {model.__name__.lower()}.")
    return patient_id


@blueprint.post("/patients/<int:patient_id>/screenings")
@login_required(Role.PRESCRIBER)
def record_screening(patient_id: int) -> Response | tuple[str, int]:
    form = ScreeningForm()
    outcome = submit(form, lambda: prescribing.record_screening(
        get_session(), current_actor(), patient_id, contraindications=list(form.contraindications.data or []),
        baseline_systolic=form.baseline_systolic.number, baseline_diastolic=form.baseline_diastolic.number,
        phq9=form.phq9.number, gad7=form.gad7.number,
        override_reason=(form.override_reason.data or "").strip() or None))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("screening"))
    cleared = "It clears prescribing." if outcome.value.clears_prescribing else \
        "Contraindications found: prescribing is blocked unless you record an override."
    flash(f"Screening recorded. {cleared}")
    return _back(patient_id)


@blueprint.post("/screenings/<int:screening_id>/override")
@login_required(Role.PRESCRIBER)
def override_screening(screening_id: int) -> Response | tuple[str, int]:
    form = OverrideForm()
    outcome = submit(form, lambda: prescribing.override_screening(get_session(), current_actor(), screening_id,
                                                                  form.reason.data or ""))
    if outcome.failed:
        return patient_record_page(_patient_of(Screening, screening_id), outcome.status,
                                   outcome.posted("override"))
    flash("Override recorded: prescribing is cleared despite the contraindications.")
    return _back(outcome.value.patient_id)


@blueprint.post("/patients/<int:patient_id>/prescriptions")
@login_required(Role.PRESCRIBER)
def issue(patient_id: int) -> Response | tuple[str, int]:
    form = PrescriptionForm()
    outcome = submit(form, lambda: prescribing.issue_prescription(
        get_session(), current_actor(), patient_id, strength_mg=form.strength_mg.number,
        lozenges_per_dose=form.lozenges_per_dose.number, quantity=form.quantity.number, refills=form.refills.number,
        directions=form.directions.data or "", doses_in_series=form.doses_in_series.number,
        min_hours_between_doses=form.min_hours_between_doses.number,
        max_doses_per_7_days=form.max_doses_per_7_days.number, issued_on=form.issued_on.data,
        window_days=PrescribingSettings.from_config(current_app.config).fill_window_days, status=form.status.data))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("prescription"))
    prescription = outcome.value
    flash(f"Prescription {prescription.id} issued ({prescription.status.value}); "
          f"no fill on or after {prescription.expires_on.isoformat()}.")
    return _back(patient_id)


@blueprint.post("/prescriptions/<int:prescription_id>/status")
@login_required(Role.PRESCRIBER)
def change_status(prescription_id: int) -> Response | tuple[str, int]:
    form = StatusForm()
    outcome = submit(form, lambda: prescribing.change_prescription_status(
        get_session(), current_actor(), prescription_id, form.status.data or "", form.note.data))
    if outcome.failed:
        return patient_record_page(_patient_of(Prescription, prescription_id), outcome.status,
                                   outcome.posted("status", prescription_id))
    flash(f"Prescription {prescription_id} is now {outcome.value.status.value}.")
    return _back(outcome.value.patient_id)
