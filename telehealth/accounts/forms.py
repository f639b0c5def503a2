"""Forms for the account pages. Flask-WTF adds and checks the CSRF token of each."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TelField
from wtforms.validators import DataRequired, Length

from telehealth.accounts.models import Role


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
    remember = BooleanField("Keep me logged in on this device")


class LogoutForm(FlaskForm):
    """Nothing but the CSRF token: logging out is a POST, so no other site can do it for you."""


class StaffAccountForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=[r.value for r in Role if r is not Role.PATIENT])
    phone = TelField("Mobile phone", validators=[Length(max=32)])
    password = PasswordField("Initial password", validators=[DataRequired(), Length(max=256)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired(), Length(max=256)])


class NewTokenForm(FlaskForm):
    name = StringField("What is it for?", validators=[DataRequired(), Length(max=80)])


class RevokeTokenForm(FlaskForm):
    pass


class SitterForm(FlaskForm):
    """A sitter, added by the patient or their prescriber; the operation says what is missing."""

    full_name = StringField("Sitter's full name", validators=[Length(max=120)])
    phone = TelField("Sitter's mobile phone (we text them a code to reply with)", validators=[Length(max=32)])
    relationship_to_patient = StringField("Relationship to the patient (spouse, friend...)",
                                          validators=[Length(max=60)])
