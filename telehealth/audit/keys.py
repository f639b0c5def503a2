"""Where the audit key lives at run time: on every session the app's `Database` opens.

`init_audit(app)` puts the app's `ChainKey` into the session factory's `info`, so operations
(which get only a session) can sign events without reaching for `current_app`.
"""
from __future__ import annotations

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from telehealth.audit.canonical import ChainKey

INFO_KEY = "audit_chain_key"


def init_audit(app: Flask) -> None:
    from telehealth.db import database

    key = ChainKey(app.config["AUDIT_HMAC_KEY"])
    app.extensions["audit_chain_key"] = key
    database(app).sessions.configure(info={INFO_KEY: key})


def chain_key(session: Session) -> ChainKey:
    key = session.info.get(INFO_KEY)
    if key is None and has_app_context():
        key = current_app.extensions.get("audit_chain_key")
    if key is None:
        raise RuntimeError("no audit key on this session: open sessions with the app's Database "
                           "(telehealth.db) after init_audit(app)")
    return key
