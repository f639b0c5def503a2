"""The front door: send each role to its own starting page."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, url_for
from werkzeug.wrappers import Response

from telehealth.accounts.models import Role
from telehealth.db import get_session
from telehealth.web.auth import acting_user

blueprint = Blueprint("home", __name__)

START_PAGE = {
    Role.PATIENT: "accounts.my_record",
    Role.PRESCRIBER: "escalations.queue",
    Role.COMPLIANCE: "compliance.dashboard",
    Role.ADMIN: "accounts.staff_accounts",
    Role.PHARMACIST: "dispensing.queue",
}


@blueprint.get("/")
def index() -> Response:
    user = acting_user()
    if user is None:
        return redirect(url_for("accounts.login"))
    return redirect(url_for(START_PAGE[user.role]))


@blueprint.get("/healthz")
def health() -> tuple[dict[str, str], int]:
    """For load balancers: the process is up and the database answers."""
    get_session().execute(sa.text("SELECT 1"))
    return {"status": "ok"}, 200
