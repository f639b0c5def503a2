"""Sitter forms on the patient's page and the patient's own page: add a sitter (their phone is
texted a code), send a new code, deactivate. The patient and their prescribers use the same views;
each lands back on the page they came from. (Apart from `views.py` so the sitter verbs, in
`sitters.py`, keep one entry point of their own.)"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, url_for
from werkzeug.wrappers import Response

from telehealth.accounts import sitters
from telehealth.accounts.forms import SitterForm
from telehealth.accounts.models import Role, Sitter
from telehealth.db import get_session
from telehealth.errors import NotFound
from telehealth.web.auth import account_policy, current_actor, login_required
from telehealth.web.forms import ButtonForm, Posted, submit
from telehealth.web.record_pages import my_record_page, patient_record_page

blueprint = Blueprint("sitters", __name__)

MANAGERS = (Role.PRESCRIBER, Role.PATIENT)


def _settings() -> sitters.SitterSettings:
    return sitters.SitterSettings.from_config(current_app.config)


def _is_patient() -> bool:
    return current_actor().role == Role.PATIENT.value


def _page(patient_id: int, status: int, posted: Posted) -> tuple[str, int]:
    if _is_patient():
        return my_record_page(status, posted)
    return patient_record_page(patient_id, status, posted)


def _back(patient_id: int) -> Response:
    if _is_patient():
        return redirect(url_for("accounts.my_record"))
    return redirect(url_for("accounts.patient_record", patient_id=patient_id))


def _patient_of(sitter_id: int) -> int:
    """Whose page a sitter's buttons are on (reading that page checks who may see it)."""
    patient_id = get_session().scalar(sa.select(Sitter.patient_id).where(Sitter.id == sitter_id))
    if patient_id is None:
        raise NotFound("No such sitter.")
    return patient_id


@blueprint.post("/patients/<int:patient_id>/sitters")
@login_required(*MANAGERS)
def add(patient_id: int) -> Response | tuple[str, int]:
    form = SitterForm()
    outcome = submit(form, lambda: sitters.register_sitter(
        get_session(), current_actor(), account_policy(), _settings(), patient_id, full_name=form.full_name.data or "",
        phone=form.phone.data or "", relationship_to_patient=form.relationship_to_patient.data or ""))
    if outcome.failed:
        return _page(patient_id, outcome.status, outcome.posted("sitter"))
    flash(f"{outcome.value.full_name} is added. We texted a code to their phone; "
          "they confirm by texting it back.")
    return _back(patient_id)


@blueprint.post("/sitters/<int:sitter_id>/code")
@login_required(*MANAGERS)
def resend_code(sitter_id: int) -> Response | tuple[str, int]:
    form = ButtonForm()
    outcome = submit(form, lambda: sitters.resend_code(get_session(), current_actor(), _settings(), sitter_id))
    if outcome.failed:
        return _page(_patient_of(sitter_id), outcome.status, outcome.posted("resend", sitter_id))
    flash(f"A new code is on its way to {outcome.value.full_name}.")
    return _back(outcome.value.patient_id)


@blueprint.post("/sitters/<int:sitter_id>/deactivate")
@login_required(*MANAGERS)
def deactivate(sitter_id: int) -> Response | tuple[str, int]:
    form = ButtonForm()
    outcome = submit(form, lambda: sitters.deactivate_sitter(get_session(), current_actor(), sitter_id))
    if outcome.failed:
        return _page(_patient_of(sitter_id), outcome.status, outcome.posted("deactivate", sitter_id))
    flash(f"{outcome.value.full_name} is no longer a sitter.")
    return _back(outcome.value.patient_id)
