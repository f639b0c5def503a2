"""Forms for the escalation pages. Flask-WTF adds and checks the CSRF token of each POST form.

The resolve form checks nothing itself on purpose: a missing note or an unknown outcome is the
operation's rule, and comes back as its field errors (422), the same on the web and the API."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, TextAreaField

from telehealth.escalations.rules import Outcome, Severity

STATE_CHOICES = [SelectChoice("", "open and acknowledged"), SelectChoice("open"), SelectChoice("acknowledged"),
                 SelectChoice("resolved"), SelectChoice("all")]


class QueueFilterForm(FlaskForm):
    """The queue's filters: a GET form in the query string, so no CSRF token."""

    class Meta:
        csrf = False

    state = SelectField("State", choices=STATE_CHOICES, default="")
    severity = SelectField("Severity", choices=[SelectChoice("", "any")] + [SelectChoice(s.value) for s in Severity],
                           default="")


class AcknowledgeForm(FlaskForm):
    """Nothing but the CSRF token."""


class ResolveForm(FlaskForm):
    outcome = SelectField("Outcome", choices=[SelectChoice("", "Choose an outcome")]
                          + [SelectChoice(o.value, o.label) for o in Outcome],
                          validate_choice=False)
    note = TextAreaField("Note (what happened)", render_kw={"rows": 4, "maxlength": 2000})
