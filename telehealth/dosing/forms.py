"""Forms of the dose-session pages: booking, the questionnaires (only the questions still open),
and the prescriber's hold release and cancel. Flask-WTF checks the CSRF token of each; what an
answer or a booking may be is the rules' to say (`dosing.rules`), in the same words as by SMS.
"""
from __future__ import annotations

from typing import Any, Iterable

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, StringField, TextAreaField
from wtforms.fields import DateField, TimeField
from wtforms.validators import Optional

from telehealth.dosing.rules import AnswerKind, Question
from telehealth.web.forms import WholeNumberField

NOTE = {"rows": 3, "maxlength": 2000}

# How each question reads on a page (the SMS prompts live in messaging.templates).
LABELS = {
    "blood_pressure": "Blood pressure, top/bottom (like 128/82)",
    "blood_pressure_recheck": "Blood pressure again, after resting (like 128/82)",
    "pulse": "Pulse, beats a minute (like 72)",
    "substances": "In the last 24 hours, have you had alcohol, sedatives, opioids or any drug not prescribed to you?",
    "self_harm": "Are you having any thoughts of harming yourself?",
    "mood": "Your mood now, from 0 (very low) to 10 (very good)",
    "on_hand": "How many lozenges do you have at home now?",
    "chest_pain": "Do you have chest pain or trouble breathing?",
    "nausea": "Nausea: 0 none, 1 mild, 2 moderate, 3 vomiting",
    "dissociation": "Feeling detached, unreal or confused, from 0 (not at all) to 10 (severe)",
}
YES_NO = [SelectChoice("Y", "Yes"), SelectChoice("N", "No")]


class BookForm(FlaskForm):
    """A day and a wall-clock time in the patient's own zone."""

    day = DateField("Date", validators=[Optional()])
    time = TimeField("Time", validators=[Optional()])


class ReleaseHoldForm(FlaskForm):
    note = TextAreaField("Why may this session go ahead?", render_kw=NOTE)


class CancelSessionForm(FlaskForm):
    reason = TextAreaField("Reason for cancelling", render_kw={"rows": 2, "maxlength": 200})


def _field(question: Question) -> Any:
    label = LABELS[question.key]
    if question.kind is AnswerKind.YES_NO:
        # The choice is checked by the rules, so a missing answer reads "Answer this question."
        return RadioField(label, choices=YES_NO, validate_choice=False)
    if question.kind is AnswerKind.BLOOD_PRESSURE:
        return StringField(label, render_kw={"placeholder": "128/82", "maxlength": 9, "inputmode": "numeric"})
    return WholeNumberField(label, render_kw={"min": question.low, "max": question.high})


def questionnaire_form(questions: Iterable[Question], *, blank: bool = False) -> FlaskForm:
    """A form with one field per open question; `blank`: not filled from this request's POST."""
    form_class = type("QuestionnaireForm", (FlaskForm,), {q.key: _field(q) for q in questions})
    return form_class(formdata=None) if blank else form_class()


def answers_of(form: FlaskForm) -> dict[str, str]:
    """What was typed or picked, as text, for `checkins.submit` to read."""
    return {field.name: field.data for field in form if field.name != "csrf_token" and field.data not in (None, "")}
