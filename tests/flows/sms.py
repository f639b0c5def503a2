"""Helpers to talk to the webhooks exactly as Twilio does: form fields and a valid signature."""
from __future__ import annotations

import uuid

from twilio.request_validator import RequestValidator

CLINIC_NUMBER = "+12015550100"


def sign(app, path: str, params: dict) -> str:
    url = app.config["PUBLIC_BASE_URL"].rstrip("/") + path
    return RequestValidator(app.config["TWILIO_AUTH_TOKEN"]).compute_signature(url, params)


def text_in(client, app, from_phone: str, body: str, *, sid: str | None = None, signature: str | None = None,
            **extra):
    """Deliver an inbound SMS to /twilio/sms; returns the response (TwiML)."""
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": from_phone,
              "To": CLINIC_NUMBER, "Body": body, "NumMedia": "0", **extra}
    headers = {"X-Twilio-Signature": sign(app, "/twilio/sms", params) if signature is None else signature}
    return client.post("/twilio/sms", data=params, headers=headers)


def status_in(client, app, sid: str, status: str, error_code: str | None = None):
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    if error_code:
        params["ErrorCode"] = error_code
    return client.post("/twilio/status", data=params, headers={"X-Twilio-Signature": sign(app, "/twilio/status",
                                                                                          params)})


def reply_of(response) -> str:
    """The text of the TwiML reply ('' when there is none)."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(response.get_data(as_text=True))
    messages = root.findall("Message")
    return messages[0].text if messages else ""
