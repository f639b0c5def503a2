"""Registering a sitter and confirming their phone by a texted code (SPEC §2, §3 step 1): the code
goes out as an SMS naming no patient, texting it back verifies the phone and records consent, and
wrong, late or replaced codes do not."""
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from telehealth.accounts import sitters
from telehealth.accounts.models import Role, Sitter
from telehealth.accounts.sitters import CodeCheck, SitterSettings
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.errors import Conflict, NotAllowed
from telehealth.messaging.models import Message, MessageStatus

SITTER_PHONE = "+12015550190"
CODE = re.compile(r"\b(\d{6})\b")
# How a sitter texting from their phone acts (see inbound.alerts.actor_of).
BY_SMS = Actor(user_id=None, role="sitter", label="sms from sitter")


@pytest.fixture
def settings(app):
    return SitterSettings.from_config(app.config)


@pytest.fixture
def team(make):
    prescriber, backup = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber, backup, name="Gale Harper")
    return SimpleNamespace(prescriber=prescriber, backup=backup, patient=patient)


def register(session, policy, settings, by, patient, phone=SITTER_PHONE) -> Sitter:
    sitter = sitters.register_sitter(session, Actor.for_user(by), policy, settings, patient.id, full_name="Hal Sitter",
                                     phone=phone, relationship_to_patient="brother")
    session.commit()
    return sitter


@pytest.fixture
def sitter(session, policy, settings, team) -> Sitter:
    return register(session, policy, settings, team.prescriber, team.patient)


def code_texts(session, sitter) -> list[Message]:
    session.flush()
    return list(session.scalars(sa.select(Message).where(Message.owner_type == "sitter", Message.owner_id == sitter.id)
                                .order_by(Message.id)))


def latest_code(session, sitter) -> str:
    return CODE.search(code_texts(session, sitter)[-1].body).group(1)


def wrong_code(code: str) -> str:
    return "123456" if code != "123456" else "654321"


def verify(session, settings, sitter, code) -> CodeCheck:
    result = sitters.verify_code(session, BY_SMS, settings, sitter.id, code)
    session.commit()
    return result


def audit(session, action: AuditAction) -> list[AuditEvent]:
    session.flush()
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action.value)))


def test_registering_a_sitter_texts_a_code_to_their_phone_that_names_no_patient(session, sitter, team):
    [text] = code_texts(session, sitter)
    assert (text.to_phone, text.template, text.status) == (SITTER_PHONE, "sitter_code", MessageStatus.QUEUED)
    code = CODE.search(text.body).group(1)
    assert not code.startswith("0")  # read back as a number, a leading zero would be lost
    assert text.body.startswith("Lakeside Clinic: ")
    for word in ("Gale", "Harper", team.patient.phone, "ketamine", "lozenge"):
        assert word.lower() not in text.body.lower()
    assert sitter.phone_verified_at is None and sitter.consent_at is None
    assert sitter.verification_code_hash and code not in sitter.verification_code_hash  # only a hash is kept
    assert len(audit(session, AuditAction.SITTER_CODE_SENT)) == 1


def test_the_right_code_verifies_the_phone_and_records_consent(session, settings, sitter, clock):
    clock.advance(minutes=7)
    assert verify(session, settings, sitter, latest_code(session, sitter)) is CodeCheck.VERIFIED
    session.expire_all()
    verified = session.get(Sitter, sitter.id)
    assert verified.phone_verified_at == verified.consent_at == clock.now()
    assert verified.verification_code_hash is None and not sitters.awaiting_code(session, sitter.id)
    assert len(audit(session, AuditAction.SITTER_VERIFIED)) == 1


def test_a_code_is_used_once(session, settings, sitter):
    code = latest_code(session, sitter)
    verify(session, settings, sitter, code)
    with pytest.raises(Conflict):
        verify(session, settings, sitter, code)


def test_a_wrong_code_uses_an_attempt_and_verifies_nothing(session, settings, sitter):
    assert verify(session, settings, sitter, wrong_code(latest_code(session, sitter))) is CodeCheck.WRONG
    session.expire_all()
    checked = session.get(Sitter, sitter.id)
    assert checked.verification_attempts == 1 and checked.phone_verified_at is None
    assert [e.details["attempts"] for e in audit(session, AuditAction.SITTER_CODE_REJECTED)] == [1]


def test_the_fifth_try_may_still_be_the_right_code(session, settings, sitter):
    code = latest_code(session, sitter)
    for _ in range(4):
        assert verify(session, settings, sitter, wrong_code(code)) is CodeCheck.WRONG
    assert verify(session, settings, sitter, code) is CodeCheck.VERIFIED


def test_after_five_wrong_codes_even_the_right_code_is_refused(session, settings, sitter):
    code = latest_code(session, sitter)
    for _ in range(5):
        assert verify(session, settings, sitter, wrong_code(code)) is CodeCheck.WRONG
    assert verify(session, settings, sitter, code) is CodeCheck.EXPIRED
    session.expire_all()
    assert session.get(Sitter, sitter.id).phone_verified_at is None


def test_a_code_is_good_until_a_moment_before_it_expires(session, settings, sitter, clock):
    clock.advance(settings.code_ttl - timedelta(seconds=1))
    assert verify(session, settings, sitter, latest_code(session, sitter)) is CodeCheck.VERIFIED


def test_an_expired_code_is_refused(session, settings, sitter, clock):
    assert settings.code_ttl == timedelta(hours=24)
    clock.advance(settings.code_ttl)
    assert verify(session, settings, sitter, latest_code(session, sitter)) is CodeCheck.EXPIRED
    session.expire_all()
    assert session.get(Sitter, sitter.id).phone_verified_at is None


def test_a_resent_code_replaces_the_old_one(session, settings, sitter, team, monkeypatch):
    # Make the new code certain to differ from the old one (each is random).
    old = latest_code(session, sitter)
    new = "222222" if old != "222222" else "333333"
    monkeypatch.setattr(sitters.secrets, "randbelow", lambda bound: int(new) - 100_000)
    sitters.resend_code(session, Actor.for_user(team.patient.user), settings, sitter.id)
    session.commit()
    assert latest_code(session, sitter) == new and len(code_texts(session, sitter)) == 2
    assert verify(session, settings, sitter, old) is CodeCheck.WRONG
    assert verify(session, settings, sitter, new) is CodeCheck.VERIFIED


def test_a_resent_code_gives_fresh_attempts_and_a_fresh_expiry(session, settings, sitter, team, clock):
    for _ in range(5):
        verify(session, settings, sitter, "000000")
    clock.advance(settings.code_ttl)
    sitters.resend_code(session, Actor.for_user(team.prescriber), settings, sitter.id)
    session.commit()
    clock.advance(settings.code_ttl - timedelta(seconds=1))
    assert verify(session, settings, sitter, latest_code(session, sitter)) is CodeCheck.VERIFIED


def test_a_confirmed_phone_is_not_sent_another_code(session, settings, sitter, team):
    verify(session, settings, sitter, latest_code(session, sitter))
    with pytest.raises(Conflict):
        sitters.resend_code(session, Actor.for_user(team.prescriber), settings, sitter.id)
    assert len(code_texts(session, sitter)) == 1


def test_a_deactivated_sitter_can_neither_verify_nor_be_sent_a_code(session, settings, sitter, team):
    code = latest_code(session, sitter)
    sitters.deactivate_sitter(session, Actor.for_user(team.patient.user), sitter.id)
    session.commit()
    with pytest.raises(Conflict):
        verify(session, settings, sitter, code)
    with pytest.raises(Conflict):
        sitters.resend_code(session, Actor.for_user(team.prescriber), settings, sitter.id)
    session.expire_all()
    assert session.get(Sitter, sitter.id).phone_verified_at is None
    assert len(audit(session, AuditAction.SITTER_DEACTIVATED)) == 1


@pytest.mark.parametrize("who", ["patient", "prescriber", "backup"])
def test_the_patient_and_their_prescribers_register_sitters(session, policy, settings, team, who):
    by = team.patient.user if who == "patient" else getattr(team, who)
    sitter = register(session, policy, settings, by, team.patient)
    assert sitter.patient_id == team.patient.id and len(code_texts(session, sitter)) == 1


@pytest.mark.parametrize("who", ["another prescriber", "another patient", Role.PHARMACIST, Role.COMPLIANCE,
                                 Role.ADMIN])
def test_nobody_else_registers_a_sitter_and_nothing_is_written(session, policy, settings, team, make, who):
    if who == "another prescriber":
        by = make.user(Role.PRESCRIBER)
    elif who == "another patient":
        by = make.patient(team.prescriber).user
    else:
        by = make.user(who)
    with pytest.raises(NotAllowed):
        register(session, policy, settings, by, team.patient)
    assert session.scalar(sa.select(sa.func.count()).select_from(Sitter)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Message).where(Message.owner_type == "sitter")) == 0


def test_nobody_else_resends_or_deactivates_a_sitter(session, settings, sitter, make):
    stranger = Actor.for_user(make.user(Role.PRESCRIBER))
    with pytest.raises(NotAllowed):
        sitters.resend_code(session, stranger, settings, sitter.id)
    with pytest.raises(NotAllowed):
        sitters.deactivate_sitter(session, stranger, sitter.id)
    session.expire_all()
    assert session.get(Sitter, sitter.id).active and len(code_texts(session, sitter)) == 1
