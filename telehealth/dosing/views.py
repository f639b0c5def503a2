"""Dose-session forms on the prescriber's patient page (SPEC §4): book a session, release a held
one with a note, or cancel. Each view parses, calls one operation, then redirects with a message
or renders the patient page again with the form's errors. The patient's own pages are in `portal`.
"""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from telehealth.accounts.models import Patient, Role
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.dosing import checkins, rules, scheduling
from telehealth.dosing.forms import BookForm, CancelSessionForm, ReleaseHoldForm
from telehealth.dosing.models import DoseSession
from telehealth.dosing.operations import DosingSettings
from telehealth.errors import NotFound, RuleViolation
from telehealth.web.auth import current_actor, login_required
from telehealth.web.forms import submit
from telehealth.web.record_pages import patient_record_page

blueprint = Blueprint("dosing", __name__)


def settings() -> DosingSettings:
    return DosingSettings.from_config(current_app.config)


# The booking's fields in the operations' words, and on the form.
FORM_FIELD = {"scheduled_at": "time", "local_date": "day"}


def book(session: Session, actor: Actor, patient_id: int, form: BookForm) -> DoseSession:
    """Book at the date and time typed, read in the patient's own zone. A broken limit on the
    booked time is shown under the time field; the others above the form."""
    missing = {name: [message] for name, message in (("day", "Choose a date."), ("time", "Choose a time."))
               if form[name].data is None}
    if missing:
        raise RuleViolation("Choose a date and a time.", missing)
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("No such patient.")
    ensure_may_read_patient(actor, patient)
    try:
        at = scheduling.local_time(patient, form.day.data, form.time.data)
        return scheduling.schedule_session(session, actor, settings(), patient.id, scheduled_at=at)
    except RuleViolation as error:
        raise RuleViolation(error.message, {FORM_FIELD.get(field, field): messages
                                            for field, messages in error.errors.items()}) from None


def booked_message(booked: DoseSession) -> str:
    return f"Session {booked.dose_number} booked for {rules.local_label(booked.scheduled_at, booked.patient.timezone)}."


def _patient_of(dose_session_id: int) -> int:
    patient_id = get_session().scalar(sa.select(DoseSession.patient_id).where(DoseSession.id == dose_session_id))
    if patient_id is None:
        raise NotFound(f"No dose session {dose_session_id}.")
    return patient_id


def _back(patient_id: int) -> Response:
    return redirect(url_for("accounts.patient_record", patient_id=patient_id, _anchor="sessions"))


@blueprint.post("/patients/<int:patient_id>/sessions")
@login_required(Role.PRESCRIBER)
def book_session(patient_id: int) -> Response | tuple[str, int]:
    form = BookForm()
    outcome = submit(form, lambda: book(get_session(), current_actor(), patient_id, form))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("book_session"))
    flash(booked_message(outcome.value) + " Patient and sitter are texted when its window opens.")
    return _back(patient_id)


@blueprint.post("/sessions/<int:dose_session_id>/hold-release")
@login_required(Role.PRESCRIBER)
def release_hold(dose_session_id: int) -> Response | tuple[str, int]:
    form = ReleaseHoldForm()
    patient_id = _patient_of(dose_session_id)
    outcome = submit(form, lambda: checkins.release_hold(get_session(), current_actor(), settings(),
                                                         dose_session_id, note=form.note.data or ""))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("release_hold", dose_session_id))
    released = outcome.value.dose_session
    still_to_do = "" if released.pre_dose_completed_at else "the patient finishes the check-in and "
    flash(f"Hold on session {released.dose_number} released: both have been texted. The patient is cleared once "
          f"{still_to_do}the sitter texts HERE again.")
    return _back(patient_id)


@blueprint.post("/sessions/<int:dose_session_id>/cancel")
@login_required(Role.PRESCRIBER)
def cancel_session(dose_session_id: int) -> Response | tuple[str, int]:
    form = CancelSessionForm()
    patient_id = _patient_of(dose_session_id)
    reason = (form.reason.data or "").strip() or "cancelled by the prescriber"
    outcome = submit(form, lambda: scheduling.cancel_session(get_session(), current_actor(), settings(),
                                                             dose_session_id, reason=reason))
    if outcome.failed:
        return patient_record_page(patient_id, outcome.status, outcome.posted("cancel_session", dose_session_id))
    flash(f"Session {outcome.value.dose_number} cancelled; the sitter is texted.")
    return _back(patient_id)
