"""`/api/v1` for dose sessions (SPEC §4): a patient's sessions and one session with its check-ins
and deadlines; booking, cancelling and releasing a hold; and, for the patient, the questionnaire
due, "taken" and skip. The same verbs as the SMS and the web pages.

Bad input is 422 with field messages and nothing stored; a request that does not fit the
session's moment is 409, its message saying what to do instead. The role lists are coarse; the
operations decide per patient (SPEC §10) and audit.
"""
from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from telehealth.accounts.models import Patient, Role
from telehealth.accounts.operations import ensure_may_read_patient
from telehealth.db import get_session
from telehealth.dosing import checkins, pages, rules, scheduling
from telehealth.dosing.models import Channel, DoseSession
from telehealth.dosing.operations import Result, open_escalations
from telehealth.dosing.schemas import (BookRequest, CancelRequest, CheckInResultOut, HoldReleaseRequest,
                                       QuestionnaireRequest, SessionDetailOut, SessionOut)
from telehealth.dosing.views import settings
from telehealth.errors import NotFound
from telehealth.web.auth import acting_user, current_actor, token_required

blueprint = Blueprint("dosing_api", __name__, url_prefix="/api/v1",
                      description="Dose sessions: booking, check-ins, holds")

READERS = (Role.PATIENT, Role.PRESCRIBER, Role.COMPLIANCE)
BOOKERS = (Role.PATIENT, Role.PRESCRIBER)


def record(session: Session, found: DoseSession) -> dict[str, Any]:
    """A session as `SessionOut` reads it: with its open escalations."""
    alerts = open_escalations(session, found.id)
    return {"session": found, "open_escalations": alerts, "escalated": bool(alerts),
            "scheduled_local": rules.local_label(found.scheduled_at, found.patient.timezone)}


def result_out(session: Session, result: Result) -> dict[str, Any]:
    return {"outcome": result.outcome, "messages": pages.describe(result), "question": result.question,
            "at": result.at, "problem": result.problem, "crisis": result.crisis,
            "session": record(session, result.dose_session)}


def _my_patient_id() -> int:
    patient = acting_user().patient  # type: ignore[union-attr]  # the role check ensures a patient
    if patient is None:
        raise NotFound("Your patient record is not set up yet.")
    return patient.id


@blueprint.route("/patients/<int:patient_id>/sessions")
class PatientSessions(MethodView):
    @token_required(*READERS)
    @blueprint.response(200, SessionOut(many=True))
    @blueprint.alt_response(404, description="No such patient, or not yours to see")
    def get(self, patient_id: int):
        """The patient's sessions in time order, each with its open escalations. Staff reads are audited."""
        session = get_session()
        return [record(session, s) for s in scheduling.sessions_of(session, current_actor(), patient_id)]

    @token_required(*BOOKERS)
    @blueprint.arguments(BookRequest)
    @blueprint.response(201, SessionOut)
    @blueprint.alt_response(422, description="Outside the prescription's limits (`scheduled_at`, `prescription`, "
                                             "`on_hand`, `sitter`), a local time that does not exist that day, "
                                             "or one sent with a UTC offset (`local_time`)")
    def post(self, body: dict, patient_id: int):
        """Book a session, by the patient or their prescriber: `scheduled_at` with its offset, or
        `local_date` and `local_time` read in the patient's own zone (right across clock changes)."""
        session, actor = get_session(), current_actor()
        at = body.get("scheduled_at")
        if at is None:
            patient = session.get(Patient, patient_id)
            if patient is None:
                raise NotFound("No such patient.")
            ensure_may_read_patient(actor, patient)
            at = scheduling.local_time(patient, body["local_date"], body["local_time"])
        booked = scheduling.schedule_session(session, actor, settings(), patient_id, scheduled_at=at)
        return record(session, booked)


@blueprint.route("/sessions/<int:dose_session_id>")
class OneSession(MethodView):
    @token_required(*READERS)
    @blueprint.response(200, SessionDetailOut)
    @blueprint.alt_response(404, description="No such session, or not yours to see")
    def get(self, dose_session_id: int):
        """One session with its check-ins (answers as stored) and deadlines. Staff reads are audited."""
        session = get_session()
        return record(session, scheduling.read_session(session, current_actor(), dose_session_id))


@blueprint.route("/sessions/<int:dose_session_id>/cancel")
class CancelSession(MethodView):
    @token_required(*BOOKERS)
    @blueprint.arguments(CancelRequest)
    @blueprint.response(200, SessionOut)
    @blueprint.alt_response(409, description="Already taken or finished")
    def post(self, body: dict, dose_session_id: int):
        """Cancel a session before the dose; the sitter is texted."""
        session = get_session()
        cancelled = scheduling.cancel_session(session, current_actor(), settings(), dose_session_id,
                                              reason=body["reason"])
        return record(session, cancelled)


@blueprint.route("/sessions/<int:dose_session_id>/hold-release")
class HoldRelease(MethodView):
    @token_required(Role.PRESCRIBER)
    @blueprint.arguments(HoldReleaseRequest)
    @blueprint.response(200, CheckInResultOut)
    @blueprint.alt_response(409, description="The session is not on hold")
    @blueprint.alt_response(422, description="No note")
    def post(self, body: dict, dose_session_id: int):
        """Let a held session go ahead, with a note (audited); its alert is acknowledged. The patient
        is cleared only once the sitter texts HERE again (they were told nothing would be taken),
        and a check-in cut short by the hold is finished first; both are texted."""
        session = get_session()
        result = checkins.release_hold(session, current_actor(), settings(), dose_session_id, note=body["note"])
        return result_out(session, result)


@blueprint.route("/me/session/questionnaire")
class MyQuestionnaire(MethodView):
    @token_required(Role.PATIENT)
    @blueprint.arguments(QuestionnaireRequest)
    @blueprint.response(200, CheckInResultOut)
    @blueprint.alt_response(409, description="No session open, or that questionnaire is not the one due now")
    @blueprint.alt_response(422, description="An answer missing, unreadable, out of range or not a question of "
                                             "this questionnaire; nothing is stored")
    def post(self, body: dict):
        """Answer the questionnaire due now, all at once: `cleared` (take it by `at`),
        `waiting_for_sitter`, `keep_resting` (measure again at `at`), `held`, `not_cleared`, ..."""
        session = get_session()
        result = checkins.submit(session, current_actor(), settings(), _my_patient_id(), body["questionnaire"],
                                 body["answers"], channel=Channel.API)
        return result_out(session, result)


@blueprint.route("/me/session/taken")
class MyDoseTaken(MethodView):
    @token_required(Role.PATIENT)
    @blueprint.response(200, CheckInResultOut)
    @blueprint.alt_response(409, description="Not cleared, on hold, or already taken")
    def post(self):
        """The patient has taken it: written to the ledger; the post-dose report opens at `at`."""
        session = get_session()
        return result_out(session, checkins.taken(session, current_actor(), settings(), _my_patient_id(),
                                                  channel=Channel.API))


@blueprint.route("/me/session/skip")
class MySkip(MethodView):
    @token_required(Role.PATIENT)
    @blueprint.response(200, CheckInResultOut)
    @blueprint.alt_response(409, description="No session to skip, or already taken")
    def post(self):
        """Skip (cancel) the next session, before the dose only."""
        session = get_session()
        return result_out(session, scheduling.skip(session, current_actor(), settings(), _my_patient_id()))
