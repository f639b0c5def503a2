"""Over the signed SMS webhook: a sitter's NO after the dose (urgent, on the record as said, paged
even after an earlier alert was acknowledged), YES mid-question (asked again, with the 911 line for
chest pain; a sitter's observation question too), and what a number that opted out may still do."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.actor import Actor
from telehealth.compliance import dose_records
from telehealth.escalations import operations as escalations_ops
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason
from telehealth.messaging import templates
from telehealth.messaging.models import Message
from tests.flows.sms import reply_of, text_in
from tests.integration import dosing_world as w

MINUTE = timedelta(minutes=1)


@pytest.fixture
def c(app, session, make):
    return w.course(app, session, make)


def say(client, app, phone: str, body: str) -> str:
    return reply_of(text_in(client, app, phone, body))


def pages_to(session, phone: str) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(Message.body).where(Message.to_phone == phone, Message.template == "page")
                                .order_by(Message.id)))


def alerts(session, c) -> list[Escalation]:
    session.expire_all()
    return list(session.scalars(sa.select(Escalation).where(Escalation.patient_id == c.patient.id)
                                .order_by(Escalation.id)))


# --- the sitter's NO after the dose -------------------------------------------------------------

def test_a_sitters_no_is_not_recorded_as_an_sos_on_the_dose_record(client, app, session, c, clock, make):
    # One answer, "NO", must be one line on the record: not also "sitter: SOS" (they never sent SOS).
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    text_in(client, app, c.sitter.phone, "NO")
    session.expire_all()
    record = dose_records.read_dose_record(session, Actor.for_user(make.user("compliance")), dosed.id)
    whats = [check.what for check in record.sedation]
    assert not any("SOS" in what for what in whats), whats


def test_a_sitters_no_with_a_phone_s_curly_apostrophe_is_urgent(client, app, session, c, clock):
    # Phones type "don’t" with U+2019 (smart punctuation): the listed "no they don't" must match.
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    reply = say(client, app, c.sitter.phone, "No they don\u2019t")
    assert [a.severity.value for a in alerts(session, c)] == ["urgent"], reply


def test_a_sitters_no_after_an_acknowledged_urgent_finding_pages_the_prescriber(client, app, session, c, clock):
    # Chest pain at the post-dose report is urgent; the prescriber acknowledges it (paging stops).
    # Later the patient stops responding and the sitter texts NO: that is news, urgent (SPEC §4),
    # and must reach a prescriber, as the sitter's SOS would.
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    w.ok(session, c, reading=None)
    w.walk_to(session, c, dosed.dosed_at + 60 * MINUTE, clock)
    w.ok(session, c, reading=None)
    w.post_dose(session, c, {**w.GOOD_POST_DOSE, "chest_pain": "Y"})
    [urgent] = [a for a in alerts(session, c) if a.reason is Reason.ADVERSE_FINDING]
    escalations_ops.acknowledge(session, c.doctor, urgent.id, channel="web")
    session.commit()
    before = len(pages_to(session, c.prescriber.phone))
    w.walk_to(session, c, dosed.dosed_at + 90 * MINUTE, clock)   # the next check: "do they respond?"
    say(client, app, c.sitter.phone, "NO")
    after = pages_to(session, c.prescriber.phone)
    assert len(after) > before, (before, after, [(a.reason.value, a.state.value) for a in alerts(session, c)])


# --- YES mid-question ---------------------------------------------------------------------------

def test_yes_to_the_chest_pain_question_after_the_dose_tells_them_to_call_911(client, app, session, c, clock):
    # YES is consent, not the answer: the question comes again, and with it the 911 line, in case
    # YES to "Any chest pain or trouble breathing?" was the answer meant (SPEC §4: call 911 now).
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    w.ok(session, c, reading=None)
    w.walk_to(session, c, dosed.dosed_at + 60 * MINUTE, clock)
    w.ok(session, c, reading=None)
    asked = say(client, app, c.patient.phone, "READY")
    assert templates.QUESTION_PROMPTS["chest_pain"] in asked, asked
    reply = say(client, app, c.patient.phone, "YES")
    assert "911" in reply, reply


def test_a_sitters_yes_to_the_observation_check_asks_it_again(client, app, session, c, clock):
    # "Do they respond to their name ...?" "Yes." YES is the opt-in word, not OK: the question comes
    # again, so the sitter knows to text OK before it becomes a high "no answer".
    dosed = w.dosed_session(session, c, clock)
    w.walk_to(session, c, dosed.dosed_at + 30 * MINUTE, clock)
    reply = say(client, app, c.sitter.phone, "YES")
    assert "Text OK" in reply or "text OK" in reply, reply


# --- texts from a number that opted out -----------------------------------------------------------

def test_a_sitter_who_opted_out_does_not_clear_the_patient_by_text(client, app, session, c, clock):
    # The sitter opted out: no observation check, release prompt or link can reach them (the
    # dispatcher refuses), so their HERE does not clear the patient (SPEC §4).
    booked = w.book(session, c, w.in_hours(2))
    w.open_window(session, c, booked, clock)
    say(client, app, c.sitter.phone, "STOP")
    w.pre_dose(session, c)
    say(client, app, c.sitter.phone, "HERE")
    assert w.state_of(session, booked) != "cleared"


# --- a second SOS after the first was acknowledged ------------------------------------------------

def test_a_second_sos_days_after_the_first_was_acknowledged_pages_the_prescriber(client, app, session, c, clock):
    say(client, app, c.patient.phone, "SOS")
    assert len(pages_to(session, c.prescriber.phone)) == 1
    assert "acknowledged" in say(client, app, c.prescriber.phone, "ACK")
    clock.advance(timedelta(days=3))
    assert "911" in say(client, app, c.sitter.phone, "SOS")
    assert len(pages_to(session, c.prescriber.phone)) == 2
