"""The patient's sessions on the web (`/me/sessions`), usable on a phone: the session under way and
what is due now, the questionnaire due as a form (only the questions still open: some may have
been answered by text), "I have taken it", skip, booking, and the history.

The same verbs as by SMS (`checkins`, `scheduling`), so whichever channel answers first wins.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Patient, Role
from telehealth.db import get_session
from telehealth.dosing import checkins, pages, rules, scheduling
from telehealth.dosing.forms import BookForm, answers_of, questionnaire_form
from telehealth.dosing.models import Channel
from telehealth.dosing.rules import Questionnaire
from telehealth.dosing.views import book, booked_message, settings
from telehealth.errors import NotFound
from telehealth.web.auth import acting_user, current_actor, login_required
from telehealth.web.forms import ButtonForm, Outcome, PageForms, Posted, submit

blueprint = Blueprint("dose_portal", __name__)

BLANKS = {"book": BookForm, "taken": ButtonForm, "skip": ButtonForm}
QUESTIONNAIRES = {"pre-dose": Questionnaire.PRE_DOSE, "post-dose": Questionnaire.POST_DOSE}
PATH_OF = {q: path for path, q in QUESTIONNAIRES.items()}


def _patient() -> Patient:
    user = acting_user()
    if user is None or user.patient is None:
        raise NotFound("Your patient record is not set up yet. Please call the clinic.")
    return user.patient


def _page(status: int = 200, posted: Posted | None = None) -> tuple[str, int]:
    session, actor = get_session(), current_actor()
    patient = accounts.read_patient_record(session, actor, _patient().id)
    context = pages.portal(session, actor, settings(), patient)
    due = context["due"]
    if posted is not None and posted.name == "check_in":
        check_in = posted.form
    else:
        check_in = questionnaire_form(due.questions, blank=True) if due.questions else None
    return render_template("dosing/my_sessions.html", patient=patient, forms=PageForms(BLANKS, posted),
                           check_in=check_in, check_in_path=PATH_OF.get(due.questionnaire),
                           local_label=rules.local_label, crisis=pages.CRISIS, urgent=pages.URGENT,
                           **context), status


def _done(outcome: Outcome) -> Response:
    for line in pages.describe(outcome.value):
        flash(line)
    return redirect(url_for("dose_portal.my_sessions"))


@blueprint.get("/me/sessions")
@login_required(Role.PATIENT)
def my_sessions() -> tuple[str, int]:
    return _page()


@blueprint.post("/me/sessions/<any('pre-dose', 'post-dose'):which>")
@login_required(Role.PATIENT)
def check_in(which: str) -> Response | tuple[str, int]:
    """A whole questionnaire at once: every open question answered, or nothing is stored."""
    session, actor, patient = get_session(), current_actor(), _patient()
    questionnaire = QUESTIONNAIRES[which]
    under_way = pages.current(scheduling.sessions_of(session, actor, patient.id))
    form = questionnaire_form(pages.questions_to_show(session, settings(), under_way, questionnaire))
    # A field not on the page (the recheck while still resting) is passed on, for the rules to refuse.
    values = {key: request.form[key] for key in rules.BY_KEY if request.form.get(key)} | answers_of(form)
    outcome = submit(form, lambda: checkins.submit(session, actor, settings(), patient.id, questionnaire, values,
                                                   channel=Channel.WEB))
    if outcome.failed:
        # A conflict (the check-in due changed meanwhile) shows the problem above a fresh form.
        return _page(outcome.status, outcome.posted("check_in" if outcome.status != 409 else "check_in_moved"))
    return _done(outcome)


@blueprint.post("/me/sessions/taken")
@login_required(Role.PATIENT)
def taken() -> Response | tuple[str, int]:
    form = ButtonForm()
    outcome = submit(form, lambda: checkins.taken(get_session(), current_actor(), settings(), _patient().id,
                                                  channel=Channel.WEB))
    if outcome.failed:
        return _page(outcome.status, outcome.posted("taken"))
    return _done(outcome)


@blueprint.post("/me/sessions/skip")
@login_required(Role.PATIENT)
def skip() -> Response | tuple[str, int]:
    form = ButtonForm()
    outcome = submit(form, lambda: scheduling.skip(get_session(), current_actor(), settings(), _patient().id))
    if outcome.failed:
        return _page(outcome.status, outcome.posted("skip"))
    return _done(outcome)


@blueprint.post("/me/sessions")
@login_required(Role.PATIENT)
def book_session() -> Response | tuple[str, int]:
    form = BookForm()
    outcome = submit(form, lambda: book(get_session(), current_actor(), _patient().id, form))
    if outcome.failed:
        return _page(outcome.status, outcome.posted("book"))
    flash(booked_message(outcome.value) + " We will text you and your sitter when check-in opens.")
    return redirect(url_for("dose_portal.my_sessions"))
