"""The ceiling: the least a Twilio SMS webhook can do, as a bare WSGI app (no Flask, no ORM).

Per request: read the form, check the X-Twilio-Signature against PUBLIC_BASE_URL + path with
TWILIO_AUTH_TOKEN (twilio's RequestValidator, as the app does), one lookup (who is texting: a
user or a sitter by phone), one insert (the inbound message under its MessageSid, ON CONFLICT DO
NOTHING, as the app stores it), commit, and a TwiML reply built with twilio's MessagingResponse.
Same database, same gunicorn command line as the app; SQLAlchemy Core over psycopg 3 with a
connection pool, as the app's engine uses.

Served by `sms_throughput.py` as `gunicorn bench.bare_app:app`; reads DATABASE_URL,
PUBLIC_BASE_URL and TWILIO_AUTH_TOKEN from the environment.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import sqlalchemy as sa
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

PUBLIC_BASE_URL = os.environ["PUBLIC_BASE_URL"].rstrip("/")
VALIDATOR = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
ENGINE = sa.create_engine(os.environ["DATABASE_URL"])

LOOKUP = sa.text("SELECT 'user' AS kind, id FROM users WHERE phone = :phone AND active "
                 "UNION ALL SELECT 'sitter', id FROM sitters WHERE phone = :phone AND active LIMIT 1")
INSERT = sa.text("INSERT INTO messages (direction, to_phone, from_phone, body, status, provider_sid, attempts, "
                 "sent_as_reply, created_at, updated_at) VALUES ('inbound', :to, :from_, :body, 'received', :sid, "
                 "0, false, :now, :now) ON CONFLICT (provider_sid) DO NOTHING RETURNING id")


def app(environ, start_response):  # noqa: ANN001, ANN201 - a WSGI callable
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"bare handler\n"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    form = dict(parse_qsl(environ["wsgi.input"].read(length).decode("utf-8", "replace"), keep_blank_values=True))
    query = environ.get("QUERY_STRING")
    url = PUBLIC_BASE_URL + environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
    if not VALIDATOR.validate(url, form, environ.get("HTTP_X_TWILIO_SIGNATURE", "")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"invalid signature\n"]
    phone = form.get("From", "")[:32]
    with ENGINE.begin() as connection:
        sender = connection.execute(LOOKUP, {"phone": phone}).first()
        connection.execute(INSERT, {"to": form.get("To", "")[:32], "from_": phone, "body": form.get("Body", ""),
                                    "sid": form.get("MessageSid", "")[:64], "now": datetime.now(timezone.utc)})
    reply = MessagingResponse()
    reply.message(f"Lakeside Clinic: received from a {sender.kind if sender else 'stranger'}.")
    body = str(reply).encode()
    start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]
