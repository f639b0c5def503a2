"""What every page form shares: running one operation all-or-nothing, carrying its errors back to
the form, whole numbers read as typed, and pages that show one form per row.

Forms check only that the input parses (a date is a date); the clinic's rules stay in the
operations, so the web and the API refuse the same things in the same words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Generic, Mapping, TypeVar

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.widgets import NumberInput

from telehealth.db import get_session
from telehealth.errors import Conflict, RuleViolation

T = TypeVar("T")
WHOLE = re.compile(r"^[0-9]{1,9}$")


class WholeNumberField(StringField):
    """A number keypad on a phone; `number` is the whole number typed, or else what was typed, so
    the operation's rule says what is wanted ("a whole number from 0 to 500")."""

    widget = NumberInput(min=0)

    @property
    def number(self) -> int | str | None:
        text = (self.data or "").strip()
        if not text:
            return None
        return int(text) if WHOLE.match(text) else text


class ButtonForm(FlaskForm):
    """Nothing but the CSRF token: a button that does one thing (mark delivered, text a new code)."""


@dataclass(frozen=True)
class Posted:
    """The form just posted, to show again with what was typed and its errors: `name` says which
    of the page's forms it is, `key` which row (the fill, the package) it belongs to. `problems`
    is a conflict with the current state, shown at the top of the page: the form that caused it
    may no longer be on it (a package already shipped has no ship form)."""

    name: str
    form: FlaskForm
    key: int | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    form: FlaskForm
    status: int | None = None   # None: done; else the status to render the page again with
    value: T | None = None
    problems: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.status is not None

    def posted(self, name: str, key: int | None = None) -> Posted:
        return Posted(name, self.form, key, self.problems)


def submit(form: FlaskForm, operation: Callable[[], T]) -> Outcome[T]:
    """Validate `form` (and its CSRF token), then run one operation in a savepoint: a broken rule
    (422) or a conflict (409) undoes whatever the operation began, and comes back as the form's
    errors or the page's problem. Refusals (403/404) are not caught: the error pages audit them
    and roll the request back."""
    if not form.validate_on_submit():
        return Outcome(form, 400)
    try:
        with get_session().begin_nested():
            return Outcome(form, value=operation())
    except RuleViolation as error:
        field_errors(form, error)
        return Outcome(form, 422)
    except Conflict as error:
        details = tuple(message for messages in error.errors.values() for message in messages)
        return Outcome(form, 409, problems=(error.message, *details))


def field_errors(form: FlaskForm, error: RuleViolation) -> None:
    """Each message under its field; those of no field on the form above it, and the error's own
    message when it names no field."""
    for field, messages in error.errors.items():
        if field in form and field != "csrf_token":
            form[field].errors = list(form[field].errors) + messages
        else:
            form.form_errors.extend(messages)
    if not error.errors:
        form.form_errors.append(error.message)


class PageForms:
    """A page's forms by name, some once per row: blank ones, except the one just posted."""

    def __init__(self, blanks: Mapping[str, type[FlaskForm]], posted: Posted | None = None):
        self.blanks, self.posted = blanks, posted

    @property
    def problems(self) -> tuple[str, ...]:
        return self.posted.problems if self.posted else ()

    def __call__(self, name: str, key: int | None = None) -> FlaskForm:
        if self.posted is not None and self.posted.name == name and self.posted.key == key:
            return self.posted.form
        return self.blanks[name](formdata=None)  # formdata=None: not filled from this request's POST
