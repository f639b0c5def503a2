"""Forms for the prescriber's screening and prescription panels of the patient page. Flask-WTF adds
and checks the CSRF token of each; the ranges and limits are the operations' rules (SPEC §3)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField, TextAreaField
from wtforms.fields import DateField
from wtforms.validators import Optional
from wtforms.widgets import CheckboxInput, ListWidget

from telehealth.prescriptions.rules import TRANSITIONS, Contraindication, PrescriptionStatus
from telehealth.web.forms import WholeNumberField

TEXT = {"rows": 3, "maxlength": 2000}
# What a prescriber does to a prescription, in their words; the operation decides which may happen.
STATUS_ACTIONS = {PrescriptionStatus.ACTIVE: "make active (resume)", PrescriptionStatus.SUSPENDED: "suspend",
                  PrescriptionStatus.COMPLETED: "mark completed", PrescriptionStatus.CANCELLED: "cancel"}


class ChecklistField(SelectMultipleField):
    """One checkbox per choice: easier to tick on a phone than a multiple select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ScreeningForm(FlaskForm):
    contraindications = ChecklistField("Contraindications found", validate_choice=False,
                                       choices=[SelectChoice(c.value, c.label) for c in Contraindication])
    baseline_systolic = WholeNumberField("Baseline blood pressure, systolic (mmHg)")
    baseline_diastolic = WholeNumberField("Baseline blood pressure, diastolic (mmHg)")
    phq9 = WholeNumberField("PHQ-9 score (0–27)")
    gad7 = WholeNumberField("GAD-7 score (0–21)")
    override_reason = TextAreaField("Override reason (only to prescribe despite a contraindication)",
                                    render_kw=TEXT)


class OverrideForm(FlaskForm):
    reason = TextAreaField("Why prescribe despite the contraindications?", render_kw=TEXT)


class PrescriptionForm(FlaskForm):
    strength_mg = WholeNumberField("Strength (mg per lozenge)")
    lozenges_per_dose = WholeNumberField("Lozenges per dose")
    quantity = WholeNumberField("Quantity per fill (lozenges)")
    refills = WholeNumberField("Refills (at most 5)", default="0")
    doses_in_series = WholeNumberField("Doses in the series")
    min_hours_between_doses = WholeNumberField("Minimum hours between doses")
    max_doses_per_7_days = WholeNumberField("Most doses in any 7 days")
    directions = TextAreaField("Directions for the patient", render_kw={"rows": 3, "maxlength": 1000})
    issued_on = DateField("Issue date (blank: today)", validators=[Optional()])
    status = SelectField("Issue as", choices=[SelectChoice(PrescriptionStatus.ACTIVE.value, "active: ready to fill"),
                                              SelectChoice(PrescriptionStatus.DRAFT.value, "draft")])


class StatusForm(FlaskForm):
    status = SelectField("Change to", validate_choice=False,
                         choices=[SelectChoice(s.value, label) for s, label in STATUS_ACTIONS.items()])
    note = TextAreaField("Note (why; required to suspend or cancel)", render_kw=TEXT)

    def offering(self, current: PrescriptionStatus) -> "StatusForm":
        """Offer only the changes a prescription in `current` status can make."""
        self.status.choices = [SelectChoice(s.value, label) for s, label in STATUS_ACTIONS.items()
                               if s in TRANSITIONS[current]]
        return self
