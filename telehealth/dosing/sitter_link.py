"""The sitter's web check-in (SPEC §1: sitters check in by SMS, with no account, or via a web link).

The link is texted with the window's reminder (`operations.new_sitter_link`) and names one session.
Its page says what is due and offers the sitter's own words as buttons: HERE, OK (with the blood
pressure they took, at release) and SOS. The same verbs as the texts, so whichever channel answers
first wins. The page shows no name and nothing medical: a link can be forwarded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import Length, Optional

from telehealth import clock
from telehealth.actor import Actor
from telehealth.db import get_session
from telehealth.dosing import checkins
from telehealth.dosing.models import Channel, DeadlineKind, DoseSession
from telehealth.dosing.operations import Outcome, Result, clock_label, local_label, session_of_link
from telehealth.dosing.rules import SessionState
from telehealth.dosing.status import active_session, due_label, upcoming_session
from telehealth.dosing.views import settings
from telehealth.errors import Conflict, NotAllowed
from telehealth.web.auth import client_address
from telehealth.web.forms import ButtonForm, PageForms, Posted, submit

blueprint = Blueprint("sitter_link", __name__)

ANOTHER_SESSION = "This link is for another session. Use the link in your latest text, or text HERE or OK."
LINK_RETIRED = "This link is no longer in use. Please call the clinic."


class SitterOkForm(FlaskForm):
    # Named as the rule that reads it, so its problem ("like 128/82") shows under this box.
    blood_pressure_at_release = StringField("Their blood pressure, at release (like 128/82)",
                                            validators=[Optional(), Length(max=20)])


BLANKS = {"here": ButtonForm, "ok": SitterOkForm, "sos": ButtonForm}


@dataclass(frozen=True)
class SitterDue:
    headline: str
    may_arrive: bool = False
    may_answer: bool = False      # OK: an observation check, or the release
    release_due: bool = False     # the OK wants the blood pressure they took


def sitter_due(found: DoseSession, current: DoseSession | None) -> SitterDue:
    """What the sitter is asked now, in the patient's own time (the arrival deadline as it stands:
    a hold release renews it)."""
    timings, now = settings().timings, clock.now()
    at = local_label(found, found.scheduled_at)
    state = found.state
    if state.finished:
        return SitterDue(f"The session of {at} has ended. Thank you.")
    if not found.sitter.active:
        return SitterDue(LINK_RETIRED)
    if current is None or current.id != found.id:
        return SitterDue(ANOTHER_SESSION)
    if state is SessionState.SCHEDULED:
        opens = clock_label(found, found.scheduled_at - timings.window_opens_before)
        return SitterDue(f"The session is at {at}. Check-in opens at {opens}.")
    if state is SessionState.OPEN and found.sitter_arrived_at is None:
        by = due_label(get_session(), found, DeadlineKind.SITTER_ARRIVAL, found.scheduled_at + timings.sitter_arrival_after)
        return SitterDue(f"The session is at {at}. When you are with them, press 'I have arrived' (by {by}), "
                         f"and stay until we ask you to release.", may_arrive=True)
    if state is SessionState.OPEN:
        return SitterDue("Your arrival is recorded. They are cleared once their check-in is complete; stay with them.")
    if state is SessionState.ON_HOLD:
        return SitterDue("The session is on hold; nothing will be taken today. The clinic will be in touch.")
    if state is SessionState.CLEARED:
        return SitterDue("They are cleared. Stay with them while they take it.")
    release_from = found.dosed_at + timings.release_after
    if now < release_from:
        return SitterDue(f"Stay with them. When we ask whether they respond to their name spoken in a normal "
                         f"voice, press OK, or SOS if not. You can release them from "
                         f"{clock_label(found, release_from)}.", may_answer=True)
    return SitterDue("Release: if they are alert, oriented and back to their usual self, take their blood pressure "
                     "and send it with OK.", may_answer=True, release_due=True)


def _linked(token: str) -> DoseSession:
    found = session_of_link(get_session(), token)
    if found is None:
        # Audited as a refusal; the page does not say whether such a link ever existed.
        raise NotAllowed("No such sitter link.", object_type="sitter_link", hide_existence=True)
    return found


def _sitter(found: DoseSession) -> Actor:
    return Actor(user_id=None, role="sitter", label=f"web link of sitter {found.sitter_id}",
                 client_address=client_address())


def _page(token: str, status: int = 200, posted: Posted | None = None) -> tuple[str, int]:
    found = _linked(token)
    due = sitter_due(found, upcoming_session(get_session(), found.patient_id))
    return render_template("dosing/sitter.html", token=token, due=due, forms=PageForms(BLANKS, posted)), status


@blueprint.get("/s/<token>")
def sitter_page(token: str) -> tuple[str, int]:
    return _page(token)


def _submitted(token: str, name: str, form: FlaskForm, operation: Callable[[], Result]) -> Response | tuple[str, int]:
    outcome = submit(form, operation)
    if outcome.failed:
        return _page(token, outcome.status, outcome.posted(name))
    flash(SAID[outcome.value.outcome])
    return redirect(url_for("sitter_link.sitter_page", token=token))


def _act(token: str, name: str, form: FlaskForm, verb: Callable[[DoseSession], Result]) -> Response | tuple[str, int]:
    """HERE or OK from the page: by the link's sitter, still active, on the link's own session."""
    found = _linked(token)

    def on_this_session() -> Result:
        if not found.sitter.active:
            # Deactivated by the clinic: by text they are no longer recognised either.
            raise Conflict(LINK_RETIRED)
        result = verb(found)
        if result.dose_session.id != found.id:
            raise Conflict(ANOTHER_SESSION)   # the verbs act on the patient's current session
        return result

    return _submitted(token, name, form, on_this_session)


@blueprint.post("/s/<token>/here")
def here(token: str) -> Response | tuple[str, int]:
    return _act(token, "here", ButtonForm(), lambda found: checkins.sitter_here(
        get_session(), _sitter(found), settings(), found.sitter_id, channel=Channel.WEB))


@blueprint.post("/s/<token>/ok")
def ok(token: str) -> Response | tuple[str, int]:
    form = SitterOkForm()
    return _act(token, "ok", form, lambda found: checkins.sitter_ok(
        get_session(), _sitter(found), settings(), found.sitter_id, channel=Channel.WEB,
        reading=(form.blood_pressure_at_release.data or "").strip() or None))


@blueprint.post("/s/<token>/sos")
def sos(token: str) -> Response | tuple[str, int]:
    """Never refused. Raised on the patient's session under way, as an SOS by text is, whichever
    session the link was for (an old link still in the sitter's phone)."""
    found = _linked(token)

    def raise_sos() -> Result:
        under_way = active_session(get_session(), found.patient_id) or found
        return checkins.sitter_sos(get_session(), _sitter(found), settings(), under_way.id, channel=Channel.WEB)

    return _submitted(token, "sos", ButtonForm(), raise_sos)


SITTER_URGENT = "The clinic has been alerted and your prescriber is being paged. Call 911 now. Stay with them."
SAID = {
    Outcome.ARRIVED: "Thank you: your arrival is recorded. Please stay until we ask you to release.",
    Outcome.CHECK_OK: "Thank you. Please keep staying with them.",
    Outcome.STAY_UNTIL: "Thank you. Please keep staying with them until we ask you to release.",
    Outcome.RELEASE_NEEDS_READING: "Thank you. To release them, take their blood pressure and send it with OK.",
    Outcome.RELEASE_URGENT: SITTER_URGENT,
    Outcome.RELEASED: "Thank you: they are released and the session is complete.",
    Outcome.SOS_RAISED: SITTER_URGENT,
}
