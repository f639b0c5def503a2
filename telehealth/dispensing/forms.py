"""Forms for the pharmacy pages, the package panels of the patient page, and the patient's receipt.
Flask-WTF adds and checks the CSRF token of each; the rules (lot, counts, filings) are the operations'."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.fields import DateField
from wtforms.validators import Optional

from telehealth.web.forms import WholeNumberField

NOTE = {"rows": 3, "maxlength": 2000}


class DispenseForm(FlaskForm):
    quantity = WholeNumberField("Quantity (lozenges)")
    lot_number = StringField("Lot number", render_kw={"maxlength": 40, "autocapitalize": "characters"})
    lot_expiry = DateField("Lot expiry date", validators=[Optional()])


class ShipForm(FlaskForm):
    carrier = StringField("Carrier", default="USPS", render_kw={"maxlength": 40})
    tracking_number = StringField("Tracking number", render_kw={"maxlength": 60})


class LostForm(FlaskForm):
    note = TextAreaField("What is known of the loss?", render_kw=NOTE)


class LossFilingsForm(FlaskForm):
    dea_notice_on = DateField("Written notice to the DEA sent on", validators=[Optional()])
    form_106_filed_on = DateField("DEA Form 106 filed on", validators=[Optional()])
    form_106_number = StringField("Form 106 number", render_kw={"maxlength": 40})


class ReturnForm(FlaskForm):
    lot_number = SelectField("Lot", validate_choice=False, choices=[])
    quantity = WholeNumberField("Quantity returned")
    note = TextAreaField("Note", render_kw=NOTE)

    def offering(self, on_hand_by_lot: dict[str, int]) -> "ReturnForm":
        """Offer the lots the patient holds; the operation refuses any other."""
        self.lot_number.choices = [SelectChoice(lot, f"{lot} ({left} on hand)")
                                   for lot, left in on_hand_by_lot.items() if left > 0]
        return self


class ReleaseForm(FlaskForm):
    reason = TextAreaField("Why may the next package leave now?", render_kw=NOTE)


class ReceiptForm(FlaskForm):
    count = WholeNumberField("How many did you find in the package?")
