"""Domain errors. They say what went wrong in the clinic's terms and know nothing of HTTP;
the web layer maps each to a status code, the SMS layer to a reply."""
from __future__ import annotations

from typing import Mapping, Sequence


class DomainError(Exception):
    """Base class. `errors` maps a field name to its messages, for forms and the JSON API."""

    def __init__(self, message: str, errors: Mapping[str, Sequence[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = {k: list(v) for k, v in (errors or {}).items()}


class NotFound(DomainError):
    """No such thing, or the actor may not know it exists."""


class NotAllowed(DomainError):
    """The actor is not allowed to do this. Always audited by the entry point.

    `hide_existence`: answer as if the thing did not exist (404), where even saying
    "forbidden" would tell the caller that, say, a patient with this id exists.
    """

    def __init__(self, message: str, *, object_type: str | None = None, object_id: object = None,
                 patient_id: int | None = None, hide_existence: bool = False):
        super().__init__(message)
        self.object_type = object_type
        self.object_id = object_id
        self.patient_id = patient_id
        self.hide_existence = hide_existence


class NotAuthenticated(DomainError):
    """Who is asking is unknown: no session, or a bad, expired or revoked token."""


class RuleViolation(DomainError):
    """The input is well formed but breaks a rule (a weak password, a duplicate phone...)."""


class Conflict(DomainError):
    """The request collides with the current state (already done, changed meanwhile)."""


class TooManyAttempts(DomainError):
    """Rate limited: too many failures recently. `retry_after` is in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after
