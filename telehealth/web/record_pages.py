"""The patient's record page, as the care team sees it (`/patients/<id>`) and as the patient sees it
(`/me`). It gathers every room's panel: screening and prescriptions, sitters, packages and on hand,
dose sessions (with the course's charts for the care team; the patient's own are on `/me/sessions`).
Each panel's forms post to their own room's views, which on an error render this page again with
the posted form and its errors (`posted`), so the reader sees what they typed and what is wrong.
"""
from __future__ import annotations

from flask import current_app, render_template

from telehealth.accounts import operations as accounts
from telehealth.accounts.forms import SitterForm
from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.dispensing import inventory
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.forms import LossFilingsForm, LostForm, ReceiptForm, ReleaseForm
from telehealth.dosing import pages as dosing_pages
from telehealth.dosing.forms import BookForm, CancelSessionForm, ReleaseHoldForm
from telehealth.dosing.operations import DosingSettings
from telehealth.errors import NotFound
from telehealth.escalations.operations import list_escalations
from telehealth.escalations.rules import State
from telehealth.prescriptions import operations as prescribing
from telehealth.prescriptions.forms import OverrideForm, PrescriptionForm, ScreeningForm, StatusForm
from telehealth.web.auth import acting_user, current_actor
from telehealth.web.forms import ButtonForm, PageForms, Posted

BLANKS = {"screening": ScreeningForm, "override": OverrideForm, "prescription": PrescriptionForm,
          "status": StatusForm, "sitter": SitterForm, "resend": ButtonForm, "deactivate": ButtonForm,
          "release": ReleaseForm, "lost": LostForm, "receipt": ReceiptForm, "filings": LossFilingsForm,
          "book_session": BookForm, "release_hold": ReleaseHoldForm, "cancel_session": CancelSessionForm}


def patient_record_page(patient_id: int, status: int = 200, posted: Posted | None = None) -> tuple[str, int]:
    """The care team's page: every read here is audited by the operation that makes it."""
    session, actor = get_session(), current_actor()
    patient = accounts.read_patient_record(session, actor, patient_id)
    prescriptions = prescribing.list_prescriptions(session, actor, patient_id=patient.id)
    forms = PageForms(BLANKS, posted)
    return render_template(
        "accounts/patient_record.html", patient=patient, forms=forms,
        escalations=list_escalations(session, actor, patient_id=patient.id, states=list(State)),
        screening=prescribing.latest_screening(session, patient.id),
        prescriptions=prescriptions,
        fills={p.id: dispensing.fills_for(session, p.id) for p in prescriptions},
        status_forms={p.id: forms("status", p.id).offering(p.status) for p in prescriptions},
        release=dispensing.release_status(session, actor, patient.id),
        shipments=dispensing.shipments_for(session, actor, patient.id),
        on_hand_by_lot=inventory.on_hand_by_lot(session, patient.id),
        **dosing_pages.care_team_panel(session, actor, DosingSettings.from_config(current_app.config), patient),
        # Compliance reads the same page; only the patient's prescribers act on it, except that
        # compliance records the DEA filings of a lost package (as the pharmacy may).
        may_act=actor.role == Role.PRESCRIBER.value, may_file=actor.role == Role.COMPLIANCE.value), status


def my_record_page(status: int = 200, posted: Posted | None = None) -> tuple[str, int]:
    """The patient's own page, in plain words."""
    user = acting_user()
    if user is None or user.patient is None:
        raise NotFound("Your patient record is not set up yet. Please call the clinic.")
    session, actor = get_session(), current_actor()
    patient = accounts.read_patient_record(session, actor, user.patient.id)
    return render_template(
        "accounts/my_record.html", patient=patient, forms=PageForms(BLANKS, posted), may_act=True,
        prescriptions=prescribing.list_prescriptions(session, actor, patient_id=patient.id),
        shipments=dispensing.shipments_for(session, actor, patient.id),
        awaiting={s.id for s in dispensing.awaiting_receipt(session, patient.id)},
        on_hand=inventory.on_hand(session, patient.id),
        dose_due=dosing_pages.next_for_record(session, actor, DosingSettings.from_config(current_app.config),
                                              patient)), status
