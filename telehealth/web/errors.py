"""One error shape for the API, friendly pages for the browser, an audit event for every refusal.

API errors are `{"code", "status", "message", "errors"}` (flask-smorest's shape); pages get a
short explanation and a way back. No stack trace ever leaves the process.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_smorest import Api
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.errors import (Conflict, DomainError, NotAllowed, NotAuthenticated, NotFound,
                               RuleViolation, TooManyAttempts)
from telehealth.web.auth import current_actor
from telehealth.web.transaction import mark_failed, write_after_rollback

log = logging.getLogger(__name__)

STATUS_OF = {NotFound: 404, NotAllowed: 403, NotAuthenticated: 401, RuleViolation: 422, Conflict: 409,
             TooManyAttempts: 429}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/twilio/") or \
        request.accept_mimetypes.best == "application/json"


def error_response(status: int, message: str, errors: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    if wants_json():
        body = {"code": status, "status": HTTP_STATUS_CODES.get(status, "Error"), "message": message,
                "errors": errors or {}}
        response = jsonify(body)
    else:
        response = Response(render_template("error.html", status=status, message=message, errors=errors or {}))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def handle_domain_error(error: DomainError) -> Response:
    mark_failed()
    status = STATUS_OF.get(type(error), 400)
    headers: dict[str, str] = {}
    if isinstance(error, NotAllowed):
        _audit_refusal(error)
        if error.hide_existence:
            return error_response(404, "Not found.")
    if isinstance(error, NotAuthenticated):
        if not wants_json():
            flash("Please log in to continue.")
            return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    return error_response(status, error.message, error.errors, headers)


def _audit_refusal(error: NotAllowed) -> None:
    actor = current_actor()
    details = {"method": request.method, "path": request.path, "reason": error.message}
    write_after_rollback(lambda session: record(
        session, actor, AuditAction.ACCESS_REFUSED, object_type=error.object_type, object_id=error.object_id,
        patient_id=error.patient_id, details=details))


def handle_http_exception(error: HTTPException) -> Response:
    mark_failed()
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages") or {}
    # webargs files field errors under their location ("json", "query"): one body has one.
    if set(errors) <= {"json", "query", "form", "files", "headers", "view_args"} and len(errors) == 1:
        errors = next(iter(errors.values()))
    message = data.get("message") or (error.description if status != 422 else "The request has invalid fields.")
    response = error_response(status, message, errors, data.get("headers"))
    allow = error.get_response().headers.get("Allow") if status == 405 else None
    if allow:
        response.headers["Allow"] = allow  # flask-smorest's own handler drops it
    return response


def handle_integrity_error(error: IntegrityError) -> Response:
    # Two requests raced for the same unique value; the loser is told to retry.
    log.warning("integrity error turned into 409: %s", type(error.orig).__name__)
    return handle_domain_error(Conflict("That changed while you were working. Please try again."))


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return handle_http_exception(error)
    mark_failed()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "Something went wrong on our side. Nothing was saved; please try again.")


class ClinicApi(Api):
    """flask-smorest's Api, with its app-wide HTTP error handler replaced by ours (which
    serves HTML pages to browsers and keeps the `Allow` header of a 405)."""

    def _register_error_handlers(self) -> None:
        register_error_handlers(self._app)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(Exception, handle_unexpected)
