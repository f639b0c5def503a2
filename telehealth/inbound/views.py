"""Twilio's webhooks: `POST /twilio/sms` (inbound texts) and `POST /twilio/status` (delivery).

Authenticate, store, then parse: the signature is checked before anything is read or written
(403, nothing stored); the message is stored under its MessageSid (a repeat is answered and not
acted on twice); only then is it parsed and routed. Replies are TwiML.

A request with a bad signature is refused with 403 and audited as ACCESS_REFUSED with its client
address (by `web.errors`, after everything else it did is rolled back: nothing else is stored).
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from telehealth.accounts.sitters import SitterSettings
from telehealth.db import get_session
from telehealth.dispensing.operations import DispensingSettings
from telehealth.dosing.operations import DosingSettings
from telehealth.errors import NotAllowed
from telehealth.escalations.operations import EscalationSettings
from telehealth.inbound.router import InboundContext, route
from telehealth.messaging import dispatcher, outbox
from telehealth.web.auth import client_address

log = logging.getLogger(__name__)
blueprint = Blueprint("twilio", __name__, url_prefix="/twilio")


def signed_url() -> str:
    """The URL Twilio signed: the public one, not what a TLS-terminating proxy handed us."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return base + (request.full_path if request.query_string else request.path)


def check_signature() -> None:
    if not current_app.config["TWILIO_VALIDATE_SIGNATURES"]:
        return
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"] or "")
    if not validator.validate(signed_url(), request.form, request.headers.get("X-Twilio-Signature", "")):
        log.warning("refused a webhook with a missing or wrong signature on %s", request.path)
        raise NotAllowed("Invalid Twilio signature.", object_type="webhook")


def inbound_context() -> InboundContext:
    config = current_app.config
    return InboundContext(clinic=config["CLINIC_NAME"], default_region=config["DEFAULT_PHONE_REGION"],
                          crisis_phrases=tuple(config["CRISIS_PHRASES"]),
                          escalations=EscalationSettings.from_config(config),
                          dispensing=DispensingSettings.from_config(config),
                          sitters=SitterSettings.from_config(config),
                          dosing=DosingSettings.from_config(config))


def twiml(reply_body: str | None = None) -> Response:
    response = MessagingResponse()
    if reply_body:
        response.message(reply_body)
    return Response(str(response), mimetype="text/xml")


def field(name: str, limit: int) -> str:
    """A form field as we store it: PostgreSQL text cannot hold NUL, and nothing is unbounded."""
    return request.form.get(name, "").replace("\x00", "")[:limit]


@blueprint.post("/sms")
def inbound_sms() -> Response:
    check_signature()
    sid = field("MessageSid", 64) or field("SmsSid", 64)
    if not sid:
        return twiml()
    session = get_session()
    message = outbox.record_inbound(session, provider_sid=sid, from_phone=field("From", 32),
                                    to_phone=field("To", 32), body=field("Body", 1600))
    if message is None:
        return twiml()  # a repeated delivery: acknowledged, not acted on again
    has_media = field("NumMedia", 4).strip() not in ("", "0")
    # The router stores the reply and audits the text and the reply (metadata, never the body).
    reply = route(session, inbound_context(), message, has_media=has_media, client_address=client_address())
    return twiml(reply.body if reply is not None else None)


@blueprint.post("/status")
def status_callback() -> Response:
    check_signature()
    code = field("ErrorCode", 9)
    dispatcher.record_status_callback(get_session(), provider_sid=field("MessageSid", 64),
                                      provider_status=field("MessageStatus", 20),
                                      error_code=int(code) if code.isdigit() else None,
                                      client_address=client_address())
    return Response(status=204)
