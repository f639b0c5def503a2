from datetime import date

import pytest
import sqlalchemy as sa

from telehealth.accounts import operations as accounts
from telehealth.accounts.models import Patient, Role, Sitter, User
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction, AuditEvent
from telehealth.errors import NotAllowed, RuleViolation
from tests.conftest import PASSWORD

ADMIN = Actor(user_id=None, role="admin", label="user 0")


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_creating_a_user_hashes_the_password_with_argon2_and_audits(session, policy):
    user = accounts.create_user(session, ADMIN, policy, email="Nia.Okafor@Clinic.Example.org",
                                full_name="Nia Okafor", role="pharmacist", password=PASSWORD)
    session.flush()
    assert user.email == "nia.okafor@clinic.example.org"
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.action == AuditAction.USER_CREATED.value))
    assert event.object_id == str(user.id) and event.details == {"role": "pharmacist"}


def test_every_problem_is_reported_at_once_and_nothing_is_written(session, policy):
    with pytest.raises(RuleViolation) as caught:
        accounts.create_user(session, ADMIN, policy, email="not-an-email", full_name="",
                             role="wizard", password="short", phone="555-0199")
    assert set(caught.value.errors) == {"email", "full_name", "role", "password", "phone"}
    assert count(session, User) == 0 and count(session, AuditEvent) == 0


def test_only_an_admin_creates_accounts(session, policy):
    with pytest.raises(NotAllowed):
        accounts.create_user(session, Actor(user_id=5, role="prescriber", label="user 5"), policy,
                             email="x@clinic.example.org", full_name="X", role="admin", password=PASSWORD)


def test_prescribers_need_a_phone(session, policy):
    with pytest.raises(RuleViolation) as caught:
        accounts.create_user(session, ADMIN, policy, email="dr@clinic.example.org", full_name="Dr Who",
                             role="prescriber", password=PASSWORD)
    assert "phone" in caught.value.errors


def test_duplicate_email_is_refused(make, session, policy):
    make.user(Role.PHARMACIST, email="dup@clinic.example.org")
    with pytest.raises(RuleViolation) as caught:
        accounts.create_user(session, ADMIN, policy, email="DUP@clinic.example.org", full_name="Other",
                             role="pharmacist", password=PASSWORD)
    assert "already exists" in caught.value.errors["email"][0]


def test_one_party_per_phone_across_users_and_sitters(make, session, policy):
    prescriber = make.user(Role.PRESCRIBER, phone="(201) 555-0170")
    patient = make.patient(prescriber)
    # The same number, typed differently, as another user or as a sitter: refused both ways.
    with pytest.raises(RuleViolation) as caught:
        accounts.create_user(session, ADMIN, policy, email="b@clinic.example.org", full_name="B",
                             role="prescriber", password=PASSWORD, phone="+1 201-555-0170")
    assert caught.value.errors == {"phone": ["This number is already registered to another person."]}
    with pytest.raises(RuleViolation):
        accounts.add_sitter(session, Actor.system("test"), policy, patient, full_name="Kim", phone="2015550170",
                            relationship_to_patient="friend")
    sitter = accounts.add_sitter(session, Actor.system("test"), policy, patient, full_name="Kim",
                                 phone="201-555-0171", relationship_to_patient="friend")
    with pytest.raises(RuleViolation):
        accounts.create_user(session, ADMIN, policy, email="c@clinic.example.org", full_name="C",
                             role="prescriber", password=PASSWORD, phone=sitter.phone)


def test_who_is_texting_finds_patients_sitters_prescribers_and_strangers(make, session, policy):
    prescriber = make.user(Role.PRESCRIBER)
    patient = make.patient(prescriber)
    sitter = accounts.add_sitter(session, Actor.system("test"), policy, patient, full_name="Kim",
                                 phone="201-555-0180", relationship_to_patient="friend")
    pharmacist = make.user(Role.PHARMACIST, phone="+12015550181")
    assert accounts.who_is_texting(session, patient.phone) == accounts.Party(
        "patient", patient.phone, user_id=patient.user_id, patient_id=patient.id, role="patient")
    assert accounts.who_is_texting(session, "+12015550180") == accounts.Party(
        "sitter", "+12015550180", sitter_id=sitter.id, patient_id=patient.id)
    assert accounts.who_is_texting(session, prescriber.phone).kind == "prescriber"
    assert accounts.who_is_texting(session, pharmacist.phone).kind == "staff"
    assert accounts.who_is_texting(session, "+12015550199").kind == "unknown"


def test_a_deactivated_user_is_no_longer_recognised_by_phone(make, session):
    prescriber = make.user(Role.PRESCRIBER, active=False)
    assert accounts.who_is_texting(session, prescriber.phone).kind == "unknown"


def test_a_patient_cannot_have_their_prescriber_as_backup(make, session, policy):
    prescriber = make.user(Role.PRESCRIBER)
    with pytest.raises(RuleViolation) as caught:
        make.patient(prescriber, backup=prescriber)
    assert "backup_prescriber_id" in caught.value.errors
    assert count(session, Patient) == 0


def test_enrolment_refuses_an_unknown_time_zone_and_writes_nothing(make, session, policy):
    prescriber = make.user(Role.PRESCRIBER)
    users_before = count(session, User)
    with pytest.raises(RuleViolation) as caught:
        accounts.enrol_patient(session, Actor.system("test"), policy, email="p@mail.example.org",
                               full_name="P Q", phone="2015550190", date_of_birth=date(1990, 1, 1),
                               address_line1="1 Main St", city="Town", region="IL", postal_code="60000",
                               timezone="Mars/Olympus", prescriber_id=prescriber.id)
    assert "timezone" in caught.value.errors
    assert count(session, User) == users_before


def test_a_prescriber_enrols_only_into_their_own_care(make, session, policy):
    mine, other = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    with pytest.raises(NotAllowed):
        accounts.enrol_patient(session, Actor.for_user(mine), policy, email="p@mail.example.org",
                               full_name="P Q", phone="2015550191", date_of_birth=date(1990, 1, 1),
                               address_line1="1 Main St", city="Town", region="IL", postal_code="60000",
                               timezone="America/Chicago", prescriber_id=other.id)


def test_sitters_are_contacts_of_a_patient_without_a_login(make, session, policy):
    patient = make.patient(make.user(Role.PRESCRIBER))
    sitter = accounts.add_sitter(session, Actor.system("test"), policy, patient, full_name="Robin Diaz",
                                 phone="201 555 0185", relationship_to_patient="partner")
    session.flush()
    assert sitter.phone == "+12015550185" and sitter.phone_verified_at is None
    assert session.scalar(sa.select(User).where(User.phone == sitter.phone)) is None
    assert [s.id for s in patient.sitters] == [sitter.id]
    assert count(session, Sitter) == 1
