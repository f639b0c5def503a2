"""The application factory: a table of contents of the steps that build the service."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_settings
from telehealth.audit.keys import init_audit
from telehealth.db import init_db

csrf = CSRFProtect()


def create_app(profile: str | None = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    init_config(app, profile, overrides)
    init_logging(app)
    init_db(app)
    init_audit(app)
    init_rooms(app)
    init_security(app)
    register_web(app)
    register_api(app)
    register_cli(app)
    init_jobs(app)
    return app


def init_config(app: Flask, profile: str | None, overrides: Mapping[str, Any] | None) -> None:
    app.config.update(load_settings(profile, overrides=overrides))
    secure = app.config["SECURE_COOKIES"]
    app.config.update(
        TESTING=app.config["PROFILE"] == "testing",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=app.config["SESSION_IDLE_MINUTES"]),
        SESSION_REFRESH_EACH_REQUEST=True,
        # Flask-Login's remember-me cookie defaults to a year, not Secure, no SameSite.
        REMEMBER_COOKIE_DURATION=timedelta(days=app.config["REMEMBER_ME_DAYS"]),
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        API_TITLE="Lozenge oversight API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
    )
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def init_logging(app: Flask) -> None:
    logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The twilio SDK logs every request's URL and headers at INFO: noise, and the URL names the account.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


def init_rooms(app: Flask) -> None:
    """Connect the rooms that take part in sending: an escalation's pages are its own business."""
    from telehealth.escalations import operations as escalations
    from telehealth.messaging import hooks

    hooks.on_permanent_failure(escalations.OWNER, escalations.page_failed)
    hooks.on_still_wanted(escalations.OWNER, escalations.page_still_wanted)
    # A lost shipment's escalation stays open until the DEA notice and Form 106 are recorded.
    from telehealth.dispensing import operations as dispensing

    escalations.register_resolution_guard(escalations.Reason.SHIPMENT_LOST, dispensing.loss_filings_missing)
    # Staged release: a dose session with an incomplete record holds the next package.
    from telehealth.dosing import scheduling

    dispensing.register_release_check(scheduling.incomplete_records)


def init_security(app: Flask) -> None:
    from telehealth.web.auth import init_auth
    from telehealth.web.transaction import init_transactions

    csrf.init_app(app)
    init_auth(app)
    init_transactions(app)

    @app.after_request
    def security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        response.headers.setdefault("Cache-Control", "no-store")
        return response


def register_web(app: Flask) -> None:
    from telehealth.accounts.sitter_views import blueprint as sitter_pages
    from telehealth.accounts.views import blueprint as accounts_pages
    from telehealth.compliance.views import blueprint as compliance_pages
    from telehealth.dispensing.views import blueprint as dispensing_pages
    from telehealth.dosing.portal import blueprint as dose_portal_pages
    from telehealth.dosing.sitter_link import blueprint as sitter_link_pages
    from telehealth.dosing.views import blueprint as dosing_pages
    from telehealth.escalations.views import blueprint as escalation_pages
    from telehealth.inbound.views import blueprint as twilio_webhooks
    from telehealth.prescriptions.views import blueprint as prescription_pages
    from telehealth.web.errors import register_error_handlers
    from telehealth.web.templating import init_templating
    from telehealth.web.views import blueprint as home_pages

    register_error_handlers(app)
    init_templating(app)
    app.register_blueprint(home_pages)
    app.register_blueprint(accounts_pages)
    app.register_blueprint(sitter_pages)
    app.register_blueprint(prescription_pages)
    app.register_blueprint(dispensing_pages)
    app.register_blueprint(dosing_pages)
    app.register_blueprint(dose_portal_pages)
    app.register_blueprint(sitter_link_pages)
    app.register_blueprint(escalation_pages)
    app.register_blueprint(compliance_pages)
    app.register_blueprint(twilio_webhooks)
    # Twilio's webhooks are authenticated by their signature instead of a CSRF token.
    csrf.exempt(twilio_webhooks)
    if app.config["PROFILE"] == "development":
        from telehealth.inbound.simulator import blueprint as simulator

        app.register_blueprint(simulator)


def register_api(app: Flask) -> None:
    from telehealth.accounts.api import blueprint as accounts_api
    from telehealth.compliance.api import blueprint as compliance_api
    from telehealth.dispensing.api import blueprint as dispensing_api
    from telehealth.dosing.api import blueprint as dosing_api
    from telehealth.escalations.api import blueprint as escalations_api
    from telehealth.prescriptions.api import blueprint as prescriptions_api
    from telehealth.web.errors import ClinicApi

    api = ClinicApi(app, spec_kwargs={"components": {"securitySchemes": {
        "bearer": {"type": "http", "scheme": "bearer"}}}, "security": [{"bearer": []}]})
    # The API authenticates with bearer tokens, never cookies, so cross-site forgery cannot ride on it.
    for blueprint in (accounts_api, escalations_api, prescriptions_api, dispensing_api, dosing_api,
                      compliance_api):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)


def init_jobs(app: Flask) -> None:
    """The embedded demo runs the scheduler's jobs in the web process, from its first request."""
    if app.config["JOBS_IN_PROCESS"]:
        from telehealth.jobs.schedule import start_in_process

        app.before_request(lambda: start_in_process(app))


def register_cli(app: Flask) -> None:
    from telehealth.cli import register_commands

    register_commands(app)
