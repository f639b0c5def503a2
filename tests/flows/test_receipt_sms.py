"""Packages and sitters by text, through the signed webhook (SPEC §3 step 1 and 5, §6): a patient's
`RECEIVED 8`, and a new sitter texting back the code that confirms their phone."""
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from telehealth.accounts import operations as accounts
from telehealth.accounts import sitters
from telehealth.accounts.models import PatientStatus, Role, Sitter
from telehealth.accounts.sitters import SitterSettings
from telehealth.actor import Actor
from telehealth.dispensing import inventory
from telehealth.dispensing.models import InventoryMovement, Shipment
from telehealth.dispensing.operations import DispensingSettings
from telehealth.escalations.models import Escalation
from telehealth.escalations.rules import Reason
from telehealth.messaging.models import Message
from tests.flows.sms import reply_of, text_in
from tests.integration.dispensing_world import delivered_package, prescribe

THANKS_8 = "Lakeside Clinic: Thank you. We recorded 8 items received. Keep them in a safe, locked place."
SITTER_PHONE = "+12015550190"


@pytest.fixture
def settings(app):
    return DispensingSettings.from_config(app.config)


@pytest.fixture
def team(make, session):
    prescriber = make.user(Role.PRESCRIBER)
    pharmacist = make.user(Role.PHARMACIST)
    officer = make.user(Role.COMPLIANCE, phone=make.phone())
    patient = make.patient(prescriber)
    patient.status = PatientStatus.ACTIVE
    session.commit()
    return SimpleNamespace(prescriber=prescriber, pharmacist=pharmacist, officer=officer, patient=patient)


@pytest.fixture
def prescription(session, team):
    return prescribe(session, team.patient, team.prescriber)


@pytest.fixture
def package(session, settings, team, prescription) -> Shipment:
    """A package of 8, delivered."""
    return delivered_package(session, team.pharmacist, settings, prescription)


def shipment(session, package) -> Shipment:
    session.expire_all()
    return session.get(Shipment, package.id)


def count(session, model, *where) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def pages(session) -> list[str]:
    return list(session.scalars(sa.select(Message.to_phone).where(Message.owner_type == "escalation")))


# --- RECEIVED n from a patient -----------------------------------------------------------

@pytest.mark.parametrize("body", ["RECEIVED 8", "received 8", " Received 8! "])
def test_received_8_confirms_the_package_and_thanks_the_patient(client, app, session, team, package, body):
    assert reply_of(text_in(client, app, team.patient.phone, body)) == THANKS_8
    received = shipment(session, package)
    assert (received.state, received.received_count, received.received_via) == ("received", 8, "sms")
    assert inventory.on_hand(session, team.patient.id) == 8
    assert count(session, Escalation) == 0


def test_received_confirms_the_oldest_package_waiting(client, app, session, settings, team, prescription, clock):
    oldest = delivered_package(session, team.pharmacist, settings, prescription, lot="LOT-OLD")
    clock.advance(days=1)
    newest = delivered_package(session, team.pharmacist, settings, prescription, lot="LOT-NEW")
    assert reply_of(text_in(client, app, team.patient.phone, "RECEIVED 8")) == THANKS_8
    assert shipment(session, oldest).state == "received"
    assert shipment(session, newest).state == "delivered"
    assert inventory.on_hand_by_lot(session, team.patient.id) == {"LOT-OLD": 8}


def test_received_without_a_number_says_what_to_send_and_writes_nothing(client, app, session, team, package):
    reply = reply_of(text_in(client, app, team.patient.phone, "RECEIVED"))
    assert reply == "Lakeside Clinic: Send RECEIVED and the number of items you found, like RECEIVED 8."
    assert shipment(session, package).received_at is None
    assert count(session, InventoryMovement) == 0 and count(session, Escalation) == 0


def test_a_count_that_differs_is_recorded_told_and_escalated_to_compliance(client, app, session, team, package):
    reply = reply_of(text_in(client, app, team.patient.phone, "RECEIVED 7"))
    assert reply == ("Lakeside Clinic: Thank you. We recorded 7 items, which is not what we sent. "
                     "The clinic will call you about it.")
    assert shipment(session, package).received_count == 7
    [escalation] = session.scalars(sa.select(Escalation))
    assert escalation.reason is Reason.RECEIPT_DISCREPANCY
    assert pages(session) == [team.officer.phone]


def test_an_implausible_count_is_asked_again_and_writes_nothing(client, app, session, team, package):
    reply = reply_of(text_in(client, app, team.patient.phone, "RECEIVED 9999"))
    assert reply.startswith("Lakeside Clinic: Give the number of items counted, a whole number from 0 to 500")
    assert shipment(session, package).received_at is None
    assert count(session, InventoryMovement) == 0 and count(session, Escalation) == 0


def test_received_with_no_package_waiting_gets_a_clear_reply(client, app, session, team, prescription):
    reply = reply_of(text_in(client, app, team.patient.phone, "RECEIVED 8"))
    assert reply == ("Lakeside Clinic: We have no package waiting for your count. "
                     "If one arrived, please call the clinic.")
    assert count(session, InventoryMovement) == 0


def test_a_sitter_texting_received_gets_help_and_receives_nothing(client, app, session, policy, team, package):
    accounts.add_sitter(session, Actor.system("test"), policy, team.patient, full_name="Hal Sitter",
                        phone=SITTER_PHONE, relationship_to_patient="brother")
    session.commit()
    reply = reply_of(text_in(client, app, SITTER_PHONE, "RECEIVED 8"))
    assert reply.startswith("Lakeside Clinic: Text HERE when you arrive")
    assert shipment(session, package).received_at is None
    assert count(session, InventoryMovement) == 0


def test_a_repeated_message_sid_is_received_once(client, app, session, settings, team, prescription, clock):
    first = delivered_package(session, team.pharmacist, settings, prescription)
    clock.advance(days=1)
    second = delivered_package(session, team.pharmacist, settings, prescription)
    assert reply_of(text_in(client, app, team.patient.phone, "RECEIVED 8", sid="SMreceivedonce")) == THANKS_8
    assert reply_of(text_in(client, app, team.patient.phone, "RECEIVED 8", sid="SMreceivedonce")) == ""
    assert shipment(session, first).state == "received"
    assert shipment(session, second).state == "delivered"
    assert inventory.on_hand(session, team.patient.id) == 8


# --- a new sitter's code -----------------------------------------------------------------

@pytest.fixture
def new_sitter(app, session, policy, team) -> tuple[Sitter, str]:
    """A sitter registered by the prescriber, and the code texted to them."""
    sitter = sitters.register_sitter(session, Actor.for_user(team.prescriber), policy,
                                     SitterSettings.from_config(app.config), team.patient.id, full_name="Hal Sitter",
                                     phone=SITTER_PHONE, relationship_to_patient="brother")
    session.commit()
    body = session.scalar(sa.select(Message.body).where(Message.owner_type == "sitter"))
    return sitter, re.search(r"\b(\d{6})\b", body).group(1)


def verified_at(session, sitter):
    session.expire_all()
    return session.get(Sitter, sitter.id).phone_verified_at


def test_a_sitter_texting_their_code_is_verified_and_told_so(client, app, session, new_sitter, clock):
    sitter, code = new_sitter
    clock.advance(minutes=3)
    reply = reply_of(text_in(client, app, SITTER_PHONE, code))
    assert reply == ("Lakeside Clinic: Thank you, this number is confirmed. We will text you before each session "
                     "you sit for. Reply HELP for help.")
    assert verified_at(session, sitter) == clock.now()
    assert session.get(Sitter, sitter.id).consent_at == clock.now()


def test_a_sitter_texting_a_wrong_code_is_told_and_the_attempt_counts(client, app, session, new_sitter):
    sitter, code = new_sitter
    wrong = "123456" if code != "123456" else "654321"
    reply = reply_of(text_in(client, app, SITTER_PHONE, wrong))
    assert reply == f"Lakeside Clinic: {sitters.CODE_WRONG}"
    assert verified_at(session, sitter) is None
    assert session.get(Sitter, sitter.id).verification_attempts == 1


def test_a_sitter_texting_an_expired_code_is_told_to_ask_for_a_new_one(client, app, session, new_sitter, clock):
    sitter, code = new_sitter
    clock.advance(timedelta(days=1))
    assert reply_of(text_in(client, app, SITTER_PHONE, code)) == f"Lakeside Clinic: {sitters.CODE_EXPIRED}"
    assert verified_at(session, sitter) is None


def test_once_verified_a_sitter_texting_a_number_is_not_taken_for_a_code(client, app, session, new_sitter):
    sitter, code = new_sitter
    text_in(client, app, SITTER_PHONE, code)
    reply = reply_of(text_in(client, app, SITTER_PHONE, code))
    assert reply.startswith("Lakeside Clinic: Text HERE when you arrive")
