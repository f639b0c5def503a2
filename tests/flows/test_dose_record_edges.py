"""What the compliance dose record shows (SPEC §8), over HTTP and SMS, for a session closed
unreleased after its dose, and for a sitter's SOS answering a sedation check."""
from datetime import timedelta

import pytest

from telehealth.actor import Actor
from telehealth.compliance import dose_records
from tests.conftest import log_in
from tests.flows.courses import text_of
from tests.flows.sms import text_in
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


@pytest.fixture
def officer(make):
    return make.user("compliance", name="Olga Officer")


def test_a_dose_closed_unreleased_is_not_shown_as_observation_under_way(client, session, c, clock, officer):
    dosed = w.dosed_session(session, c, clock)
    for minutes in (30, 60):
        w.walk_to(session, c, dosed.dosed_at + minutes * MINUTE, clock)
        w.ok(session, c, reading=None)
    w.post_dose(session, c)
    later = w.book(session, c, dosed.dosed_at + timedelta(hours=96))
    w.walk_to(session, c, later.scheduled_at - 30 * MINUTE, clock)   # the release was missed on the way
    found = w.reloaded(session, dosed)
    assert (found.state.value, found.end_reason) == ("missed", "missed: not released by the sitter")
    log_in(client, officer.email)
    shown = text_of(client.get(f"/compliance/dose-records/{dosed.id}"))
    # Four days later the session is closed: the record must not tell an auditor the patient is
    # still being observed; the observation ended without a release.
    assert "Total observation under way" not in shown, shown[shown.find("Total observation"):][:80]


def test_a_sitters_sos_answering_a_sedation_check_is_on_the_record_s_sedation_checks(app, client, session, c, clock,
                                                                                     make):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)      # "do they respond to their name?"
    text_in(client, app, c.sitter.phone, "SOS")                      # they do not
    session.expire_all()
    record = dose_records.read_dose_record(session, Actor.for_user(make.user("compliance")), dosed.id)
    sedation = [check.what for check in record.sedation]
    # SPEC §8: the record holds the sedation answers: the check as asked, then "does not respond".
    assert sedation[0].startswith("sitter asked")
    assert any("SOS" in what or "not respond" in what for what in sedation[1:]), sedation


def test_a_sitter_s_no_to_a_sedation_check_is_on_the_record_s_sedation_checks(app, client, session, c, clock, make):
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    text_in(client, app, c.sitter.phone, "NO")
    session.expire_all()
    record = dose_records.read_dose_record(session, Actor.for_user(make.user("compliance")), dosed.id)
    assert "sitter: NOT OK, does not respond (urgent alert)" in [check.what for check in record.sedation]
