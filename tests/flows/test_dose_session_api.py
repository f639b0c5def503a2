"""SPEC §4, §9, §10 through `/api/v1`: a patient's sessions and one session with its check-ins and
deadlines; booking (aware time, or local date and time across a clock change) within the limits;
cancel; a hold released with a note; and the patient's questionnaire, taken and skip. Bad input is
422 with field messages and nothing stored; a request out of step with the session is 409."""
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from telehealth.audit.models import AuditAction
from telehealth.dispensing.inventory import on_hand
from telehealth.dosing.models import CheckIn, DoseSession
from telehealth.dosing.rules import SessionState
from tests.flows.api import ERROR_SHAPE, audited, count, token_for
from tests.integration.dosing_world import GOOD_PRE_DOSE, book, course, here, in_hours, open_window, pre_dose, reloaded

PRE = {"blood_pressure": "128/82", "pulse": 72, "substances": False, "self_harm": False, "mood": 6, "on_hand": 8}


@pytest.fixture
def c(app, session, make):
    return course(app, session, make)


@pytest.fixture
def opened(session, c, clock):
    booked = book(session, c, in_hours(0.5))
    open_window(session, c, booked, clock)
    return booked


def as_patient(client, c):
    return token_for(client, c.patient.user)


def as_prescriber(client, c):
    return token_for(client, c.prescriber)


def submit(client, c, answers, questionnaire="pre_dose"):
    return client.post("/api/v1/me/session/questionnaire", headers=as_patient(client, c),
                       json={"questionnaire": questionnaire, "answers": answers})


def stored_answers(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(CheckIn).where(CheckIn.kind.like("pre_dose.%")))


def test_the_care_team_lists_a_patients_sessions_and_the_read_is_audited(client, session, c, opened):
    response = client.get(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c))
    assert response.status_code == 200
    listed, = response.json
    assert listed["id"] == opened.id and listed["state"] == "open" and listed["dose_number"] == 1
    assert listed["scheduled_at"] == "2026-11-20T15:30:00+00:00"
    assert listed["scheduled_local"] == "Fri 20 Nov 9:30 AM CST" and listed["escalated"] is False
    assert len(audited(session, AuditAction.DOSE_SESSION_LIST_READ)) == 1


def test_one_session_comes_with_its_check_ins_and_deadlines(client, session, c, opened):
    here(session, c)
    pre_dose(session, c)
    response = client.get(f"/api/v1/sessions/{opened.id}", headers=as_prescriber(client, c))
    body = response.json
    assert body["state"] == "cleared"
    assert {"kind": "pre_dose.blood_pressure", "value": [128, 82]}.items() <= \
        next(i for i in body["check_ins"] if i["kind"] == "pre_dose.blood_pressure").items()
    assert {(d["kind"], d["state"]) for d in body["deadlines"]} >= {("sitter_arrival", "met"),
                                                                   ("dose_taken", "pending")}
    assert len(audited(session, AuditAction.DOSE_SESSION_READ)) == 1


def test_a_patient_cannot_see_another_patients_sessions(client, app, session, make, c, opened):
    other = course(app, session, make)
    headers = token_for(client, other.patient.user)
    assert client.get(f"/api/v1/patients/{c.patient.id}/sessions", headers=headers).status_code == 404
    assert client.get(f"/api/v1/sessions/{opened.id}", headers=headers).status_code == 404
    assert len(audited(session, AuditAction.ACCESS_REFUSED)) == 2


def test_a_prescriber_books_with_an_aware_time(client, session, c):
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c),
                           json={"scheduled_at": "2026-11-24T09:00:00-06:00"})
    assert response.status_code == 201
    assert response.json["scheduled_at"] == "2026-11-24T15:00:00+00:00" and response.json["state"] == "scheduled"


def test_a_local_date_and_time_after_the_clocks_change_is_stored_in_the_right_utc(client, session, c):
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_patient(client, c),
                           json={"local_date": "2027-03-15", "local_time": "09:00"})
    assert response.status_code == 201
    assert response.json["scheduled_at"] == "2027-03-15T14:00:00+00:00"
    assert response.json["scheduled_local"] == "Mon 15 Mar 9:00 AM CDT"


@pytest.mark.parametrize("body, field", [
    ({"scheduled_at": "2026-11-24T09:00:00"}, "scheduled_at"),                 # naive
    ({"local_date": "2026-11-24"}, "scheduled_at"),                            # no time
    ({"scheduled_at": "2026-11-24T15:00:00Z", "local_date": "2026-11-24", "local_time": "09:00"}, "scheduled_at"),
    ({"scheduled_at": "2026-11-24T15:00:00Z", "room": "4"}, "room"),            # unknown field
])
def test_a_malformed_booking_is_422_and_books_nothing(client, session, c, body, field):
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c), json=body)
    assert response.status_code == 422
    assert set(response.json) == ERROR_SHAPE and field in response.json["errors"]
    assert count(session, DoseSession) == 0


@pytest.mark.parametrize("at, field, message", [
    ("2026-11-20T14:00:00Z", "scheduled_at", "Choose a time in the future."),
    ("2026-11-24T15:00:00Z", "scheduled_at", "Sessions must be at least 72 hours apart."),
    ("2026-11-29T15:00:00Z", "scheduled_at", "At most 2 sessions in any 7 days."),
])
def test_booking_outside_the_limits_is_422_with_the_field_message(client, session, c, at, field, message):
    book(session, c, datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))
    book(session, c, datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc))
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c),
                           json={"scheduled_at": at})
    assert response.status_code == 422 and message in response.json["errors"][field]
    assert count(session, DoseSession) == 2


def test_booking_without_a_verified_sitter_is_422(client, session, c):
    c.sitter.phone_verified_at = None
    session.commit()
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c),
                           json={"scheduled_at": "2026-11-24T15:00:00Z"})
    assert response.status_code == 422
    assert response.json["errors"]["sitter"] == ["An active sitter with a confirmed phone is needed."]


@pytest.mark.parametrize("local_time", ["09:00Z", "09:00+05:00"])
def test_a_local_time_with_an_offset_is_422_not_read_as_the_patients_own_time(client, session, c, local_time):
    # "09:00Z" is 3:00 AM in Chicago: dropping the offset would book another moment than the one sent.
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c),
                           json={"local_date": "2026-11-24", "local_time": local_time})
    assert response.status_code == 422
    assert response.json["errors"] == {
        "local_time": ["Send HH:MM in the patient's own time, without a UTC offset."]}
    assert count(session, DoseSession) == 0


@pytest.mark.parametrize("body, field", [
    ({"local_date": "9999-12-31", "local_time": "23:00"}, "local_date"),    # 10000-01-01 in UTC
    ({"scheduled_at": "9999-12-31T23:00:00-06:00"}, "scheduled_at"),
    ({"scheduled_at": "0001-01-01T01:00:00+05:00"}, "scheduled_at"),        # year 0 in UTC
    ({"scheduled_at": "9999-12-31T20:00:00Z"}, "scheduled_at"),             # a week on would be off the calendar
])
def test_a_date_at_the_end_of_the_calendar_is_422_on_the_field_sent(client, session, c, body, field):
    response = client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c), json=body)
    assert response.status_code == 422
    assert response.json["errors"] == {field: ["Choose a date within the prescription."]}
    assert count(session, DoseSession) == 0


def test_the_pre_dose_questionnaire_clears_when_the_sitter_is_there(client, session, c, opened):
    here(session, c)
    response = submit(client, c, PRE)
    assert response.status_code == 200
    body = response.json
    assert body["outcome"] == "cleared" and body["at"] == "2026-11-20T15:30:00+00:00"
    assert body["messages"] == ["You are cleared. Take it now with your sitter there, and press 'I have taken it' "
                                "by 9:30 AM."]
    assert body["session"]["state"] == "cleared" and body["crisis"] is False


def test_the_pre_dose_questionnaire_waits_for_the_sitter(client, session, c, opened):
    response = submit(client, c, PRE)
    assert response.json["outcome"] == "waiting_for_sitter" and response.json["session"]["state"] == "open"


@pytest.mark.parametrize("pressure, outcome", [("159/99", "cleared"), ("160/100", "keep_resting")])
def test_160_over_100_asks_for_the_recheck_where_159_over_99_clears(client, session, c, opened, pressure, outcome):
    here(session, c)
    response = submit(client, c, {**PRE, "blood_pressure": pressure})
    assert response.json["outcome"] == outcome


def test_the_recheck_before_the_rest_ends_is_422(client, session, clock, c, opened):
    submit(client, c, {**PRE, "blood_pressure": "160/100"})
    clock.advance(minutes=4)
    response = submit(client, c, {"blood_pressure_recheck": "150/90"})
    assert response.status_code == 422
    assert response.json["errors"] == {"blood_pressure_recheck": ["Rest until 9:05 AM, then measure again."]}
    clock.advance(minutes=1)
    assert submit(client, c, {"blood_pressure_recheck": "150/90"}).json["outcome"] == "waiting_for_sitter"


@pytest.mark.parametrize("answers, field", [
    ({**PRE, "blood_pressure": "300/20"}, "blood_pressure"),
    ({**PRE, "blood_pressure": "128/"}, "blood_pressure"),
    ({**PRE, "pulse": "abc"}, "pulse"),
    ({**PRE, "substances": "maybe"}, "substances"),
    ({k: v for k, v in PRE.items() if k != "mood"}, "mood"),
])
def test_a_bad_answer_is_422_with_its_field_and_nothing_is_stored(client, session, c, opened, answers, field):
    response = submit(client, c, answers)
    assert response.status_code == 422 and set(response.json) == ERROR_SHAPE
    assert list(response.json["errors"]) == [field]
    assert stored_answers(session) == 0 and reloaded(session, opened).pre_dose_started_at is None


def test_an_unknown_question_is_422(client, session, c, opened):
    response = submit(client, c, {**PRE, "weight": "80"})
    assert response.status_code == 422 and response.json["errors"] == {"answers": {"weight": ["Unknown field."]}}
    assert stored_answers(session) == 0


def test_an_answer_of_the_other_questionnaire_is_422_not_dropped(client, session, c, opened):
    # Chest pain is a post-dose question; sent with the pre-dose answers it was ignored and the patient cleared.
    here(session, c)
    response = submit(client, c, {**PRE, "chest_pain": True})
    assert response.status_code == 422
    assert response.json["errors"] == {"answers": {"chest_pain": ["Not a question of this check-in."]}}
    assert stored_answers(session) == 0 and reloaded(session, opened).state is SessionState.OPEN


def test_thoughts_of_self_harm_hold_and_the_reply_carries_the_crisis_lines(client, session, c, opened):
    body = submit(client, c, {**PRE, "self_harm": True}).json
    assert body["outcome"] == "held" and body["crisis"] is True and body["session"]["escalated"] is True
    assert any("call or text 988" in line and "call 911" in line for line in body["messages"])


def test_the_post_dose_questionnaire_before_it_is_due_is_409(client, session, c, opened):
    response = submit(client, c, {"chest_pain": False}, questionnaire="post_dose")
    assert response.status_code == 409 and set(response.json) == ERROR_SHAPE
    assert response.json["message"] == "That check-in is not the one due now."


def test_taken_writes_the_ledger(client, session, c, opened):
    here(session, c)
    pre_dose(session, c)
    response = client.post("/api/v1/me/session/taken", headers=as_patient(client, c))
    assert response.status_code == 200 and response.json["outcome"] == "taken"
    assert response.json["at"] == "2026-11-20T16:00:00+00:00"
    assert on_hand(session, c.patient.id) == 7 and reloaded(session, opened).state is SessionState.DOSED


def test_taken_before_clearance_is_409_and_writes_nothing(client, session, c, opened):
    response = client.post("/api/v1/me/session/taken", headers=as_patient(client, c))
    assert response.status_code == 409 and "not cleared" in response.json["message"]
    assert on_hand(session, c.patient.id) == 8


def test_skip_cancels_the_next_session(client, session, c, opened):
    response = client.post("/api/v1/me/session/skip", headers=as_patient(client, c))
    assert response.status_code == 200 and response.json["session"]["state"] == "cancelled"
    assert client.post("/api/v1/me/session/skip", headers=as_patient(client, c)).status_code == 409


def held(session, c):
    here(session, c)
    pre_dose(session, c, {**GOOD_PRE_DOSE, "pulse": "130"})


def test_a_held_session_is_listed_as_escalated(client, session, c, opened):
    held(session, c)
    listed, = client.get(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c)).json
    assert listed["state"] == "on_hold" and listed["escalated"] is True
    assert [(e["reason"], e["severity"]) for e in listed["open_escalations"]] == [("pre_dose_hold", "moderate")]
    assert listed["hold_findings"] == ["pulse 130"]


def test_a_prescriber_releases_a_hold_with_a_note(client, session, c, opened):
    held(session, c)
    response = client.post(f"/api/v1/sessions/{opened.id}/hold-release", headers=as_prescriber(client, c),
                           json={"note": "Pulse normal on a call."})
    assert response.status_code == 200
    assert response.json["outcome"] == "hold_released" and response.json["session"]["state"] == "open"
    assert len(audited(session, AuditAction.DOSE_SESSION_HOLD_RELEASED)) == 1


@pytest.mark.parametrize("body, field", [({"note": " "}, "note"), ({}, "note")])
def test_a_hold_release_without_a_note_is_422(client, session, c, opened, body, field):
    held(session, c)
    response = client.post(f"/api/v1/sessions/{opened.id}/hold-release", headers=as_prescriber(client, c), json=body)
    assert response.status_code == 422 and field in response.json["errors"]
    assert reloaded(session, opened).state is SessionState.ON_HOLD


def test_releasing_a_session_not_on_hold_is_409(client, session, c, opened):
    response = client.post(f"/api/v1/sessions/{opened.id}/hold-release", headers=as_prescriber(client, c),
                           json={"note": "Go ahead."})
    assert response.status_code == 409 and set(response.json) == ERROR_SHAPE


def test_another_prescriber_cannot_release_a_hold_and_is_audited(client, session, make, c, opened):
    held(session, c)
    stranger = make.user("prescriber")
    response = client.post(f"/api/v1/sessions/{opened.id}/hold-release", headers=token_for(client, stranger),
                           json={"note": "Go ahead."})
    assert response.status_code == 404
    refusal, = audited(session, AuditAction.ACCESS_REFUSED)
    assert refusal.actor_user_id == stranger.id and refusal.patient_id == c.patient.id
    assert reloaded(session, opened).state is SessionState.ON_HOLD


def test_a_prescriber_cancels_a_session(client, session, c, opened):
    response = client.post(f"/api/v1/sessions/{opened.id}/cancel", headers=as_prescriber(client, c),
                           json={"reason": "Travelling."})
    assert response.status_code == 200 and response.json["state"] == "cancelled"
    assert response.json["end_reason"] == "Travelling."


def test_a_booking_after_a_cancellation_never_shares_a_dose_number_with_a_session_still_booked(client, session, c):
    def book_at(at):
        return client.post(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c),
                           json={"scheduled_at": at}).json

    first, second = book_at("2026-11-23T15:00:00Z"), book_at("2026-11-27T15:00:00Z")
    assert client.post(f"/api/v1/sessions/{first['id']}/cancel", headers=as_prescriber(client, c),
                       json={"reason": "Travelling."}).status_code == 200
    third = book_at("2026-12-01T15:00:00Z")
    listed = client.get(f"/api/v1/patients/{c.patient.id}/sessions", headers=as_prescriber(client, c)).json
    assert [(s["id"], s["state"], s["dose_number"]) for s in listed] == [
        (first["id"], "cancelled", 1), (second["id"], "scheduled", 1), (third["id"], "scheduled", 2)]


def test_every_dose_session_route_is_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path in ("/api/v1/patients/{patient_id}/sessions", "/api/v1/sessions/{dose_session_id}",
                 "/api/v1/sessions/{dose_session_id}/cancel", "/api/v1/sessions/{dose_session_id}/hold-release",
                 "/api/v1/me/session/questionnaire", "/api/v1/me/session/taken", "/api/v1/me/session/skip"):
        assert path in paths
    assert set(paths["/api/v1/patients/{patient_id}/sessions"]) >= {"get", "post"}


def test_the_openapi_description_of_hold_release_does_not_promise_clearance_at_once(client):
    # A hold release needs the sitter's HERE again: the document must not promise clearance.
    document = client.get("/api/openapi.json").get_json()
    summary = document["paths"]["/api/v1/sessions/{dose_session_id}/hold-release"]["post"]["summary"]
    assert "cleared at once" not in summary, summary
