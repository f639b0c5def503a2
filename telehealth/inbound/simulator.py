"""The SMS simulator (development profile only): one simulated phone per demo party.

What you type is signed with the auth token and posted to the real `/twilio/sms` webhook, so it
takes exactly the path a real text takes; what the outbox sends to that number (and the TwiML
replies) appear on that phone.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from twilio.request_validator import RequestValidator
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length

from telehealth.accounts.models import Role, Sitter, User
from telehealth.accounts.rules import display_phone
from telehealth.db import get_session
from telehealth.messaging.models import Direction, Message

blueprint = Blueprint("simulator", __name__, url_prefix="/dev/sms")
# The clinic's own number as the simulator shows it (fictional).
CLINIC_NUMBER = "+12015550100"


class TextForm(FlaskForm):
    phone = HiddenField(validators=[DataRequired()])
    body = StringField("Message", validators=[Length(max=1600)])


def simulated_phones() -> list[dict]:
    session = get_session()
    phones = [{"phone": u.phone, "who": f"{u.full_name} ({u.role.value})"}
              for u in session.scalars(sa.select(User).where(User.phone.is_not(None), User.active.is_(True))
                                       .order_by(User.role, User.id))
              if u.role in (Role.PATIENT, Role.PRESCRIBER)]
    phones += [{"phone": s.phone, "who": f"{s.full_name} (sitter)"}
               for s in session.scalars(sa.select(Sitter).where(Sitter.active.is_(True)).order_by(Sitter.id))]
    return phones


def thread(phone: str) -> list[dict]:
    messages = get_session().scalars(sa.select(Message).where(
        sa.or_(Message.to_phone == phone, Message.from_phone == phone)).order_by(Message.id).limit(200))
    return [{"id": m.id, "from_me": m.direction is Direction.INBOUND, "body": m.body, "status": m.status.value,
             "at": m.created_at.strftime("%H:%M:%S")} for m in messages]


@blueprint.get("/")
def phones() -> str:
    parties = simulated_phones()
    for party in parties:
        party["display"] = display_phone(party["phone"])
        party["thread"] = thread(party["phone"])
    return render_template("simulator.html", parties=parties, form=TextForm())


@blueprint.get("/thread")
def thread_json() -> Response:
    return jsonify(thread(request.args.get("phone", "")))


@blueprint.post("/send")
def send() -> Response:
    form = TextForm()
    if form.validate_on_submit():
        deliver_as_twilio(form.phone.data, form.body.data or "")
    return redirect(url_for("simulator.phones") + f"#phone-{(form.phone.data or '').lstrip('+')}")


def deliver_as_twilio(from_phone: str, body: str) -> int:
    """Post a text to our own webhook exactly as Twilio would: form fields and a valid signature."""
    config = current_app.config
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": config["TWILIO_ACCOUNT_SID"] or "AC" + "0" * 32,
              "From": from_phone, "To": config["TWILIO_FROM_NUMBER"] or CLINIC_NUMBER, "Body": body, "NumMedia": "0"}
    base = config["PUBLIC_BASE_URL"].rstrip("/")
    signature = RequestValidator(config["TWILIO_AUTH_TOKEN"]).compute_signature(f"{base}/twilio/sms", params)
    response = current_app.test_client().post("/twilio/sms", data=params, base_url=base,
                                              headers={"X-Twilio-Signature": signature})
    return response.status_code
