"""Account pages: log in and out, your account and API tokens, staff accounts (admin), and the
patient record pages. Each view parses, calls one operation, renders."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session as cookie_session, url_for
from flask_login import login_user, logout_user
from werkzeug.wrappers import Response

from telehealth.accounts import operations as accounts
from telehealth.accounts.forms import (ChangePasswordForm, LoginForm, LogoutForm, NewTokenForm,
                                       RevokeTokenForm, StaffAccountForm)
from telehealth.accounts.models import ApiToken, Role, User
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.db import get_session
from telehealth.errors import NotFound, RuleViolation
from telehealth.web.auth import account_policy, acting_user, client_address, current_actor, login_required
from telehealth.web.forms import field_errors
from telehealth.web.record_pages import my_record_page, patient_record_page

blueprint = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link borrow our login page."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("home.index")


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    if acting_user() is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form), (400 if form.is_submitted() else 200)
    outcome = accounts.log_in(get_session(), account_policy(), email=form.email.data,
                              password=form.password.data, client_address=client_address())
    if outcome.retry_after_seconds is not None:
        minutes = max(1, round(outcome.retry_after_seconds / 60))
        form.form_errors.append(f"Too many failed attempts. Try again in about {minutes} minute(s).")
        return render_template("accounts/login.html", form=form), 429
    if not outcome.succeeded:
        form.form_errors.append("That email and password do not match an active account.")
        return render_template("accounts/login.html", form=form), 401
    cookie_session.clear()  # no pre-login session data survives into the logged-in one
    login_user(outcome.user, remember=bool(form.remember.data))
    cookie_session.permanent = True  # the idle timeout applies
    return redirect(_safe_next(request.args.get("next")))


@blueprint.post("/logout")
def logout() -> Response:
    form = LogoutForm()
    user = acting_user()
    if form.validate_on_submit() and user is not None:
        record(get_session(), current_actor(), AuditAction.LOGOUT, object_type="user", object_id=user.id)
        logout_user()
        cookie_session.clear()
        flash("You are logged out.")
    return redirect(url_for("accounts.login"))


@blueprint.get("/account")
@login_required()
def account() -> str:
    return _account_page()


def _account_page(new_token: str | None = None, status: int = 200, **forms) -> tuple[str, int]:  # noqa: ANN003
    user = acting_user()
    tokens = get_session().scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)
                                   .order_by(ApiToken.created_at.desc()).limit(20))
    return render_template("accounts/account.html", user=user, tokens=list(tokens), new_token=new_token,
                           password_form=forms.get("password_form") or ChangePasswordForm(),
                           token_form=forms.get("token_form") or NewTokenForm(),
                           revoke_form=RevokeTokenForm()), status


@blueprint.post("/account/password")
@login_required()
def change_password() -> Response | tuple[str, int]:
    form = ChangePasswordForm()
    user = acting_user()
    policy = account_policy()
    if not form.validate_on_submit():
        return _account_page(status=400, password_form=form)
    if not policy.password_matches(user.password_hash, form.current_password.data):
        form.current_password.errors = ["That is not your current password."]
        return _account_page(status=422, password_form=form)
    try:
        accounts.set_password(get_session(), current_actor(), policy, user, form.new_password.data)
    except RuleViolation as error:
        form.new_password.errors = error.errors.get("password", [error.message])
        return _account_page(status=422, password_form=form)
    login_user(user)  # the login id changed: keep this session, every other one ends
    flash("Your password is changed. Every other session of yours has been logged out.")
    return redirect(url_for("accounts.account"))


@blueprint.post("/account/tokens")
@login_required()
def create_token() -> tuple[str, int]:
    form = NewTokenForm()
    if not form.validate_on_submit():
        return _account_page(status=400, token_form=form)
    _row, token = accounts.issue_api_token(get_session(), current_actor(), account_policy(), acting_user(),
                                           name=form.name.data)
    return _account_page(new_token=token, status=201)


@blueprint.post("/account/tokens/<int:token_id>/revoke")
@login_required()
def revoke_token(token_id: int) -> Response | tuple[str, int]:
    form = RevokeTokenForm()
    if not form.validate_on_submit():
        return _account_page(status=400)
    row = get_session().get(ApiToken, token_id)
    if row is None or row.user_id != acting_user().id:
        raise NotFound("No such token.")
    accounts.revoke_api_token(get_session(), current_actor(), row)
    flash("The token is revoked.")
    return redirect(url_for("accounts.account"))


@blueprint.route("/admin/users", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def staff_accounts() -> Response | tuple[str, int]:
    form = StaffAccountForm()
    status = 200
    if form.is_submitted():
        status = 400
        if form.validate():
            try:
                user = accounts.create_user(get_session(), current_actor(), account_policy(),
                                            email=form.email.data, full_name=form.full_name.data,
                                            role=form.role.data, password=form.password.data,
                                            phone=form.phone.data or None)
            except RuleViolation as error:
                field_errors(form, error)
                status = 422
            else:
                flash(f"Account created for {user.full_name}.")
                return redirect(url_for("accounts.staff_accounts"))
    users = get_session().scalars(sa.select(User).where(User.role != Role.PATIENT).order_by(User.full_name))
    return render_template("accounts/staff_accounts.html", form=form, users=list(users)), status


@blueprint.get("/patients")
@login_required(Role.PRESCRIBER, Role.COMPLIANCE)
def patient_list() -> str:
    patients = accounts.list_patients(get_session(), current_actor())
    return render_template("accounts/patient_list.html", patients=patients, me=acting_user())


@blueprint.get("/patients/<int:patient_id>")
@login_required(Role.PRESCRIBER, Role.COMPLIANCE)
def patient_record(patient_id: int) -> tuple[str, int]:
    # The page gathers every room's panel (prescriptions, sitters, packages): see web.record_pages.
    return patient_record_page(patient_id)


@blueprint.get("/me")
@login_required(Role.PATIENT)
def my_record() -> tuple[str, int]:
    return my_record_page()
