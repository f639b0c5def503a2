import pytest

from telehealth.accounts.models import Role
from telehealth.accounts.rules import (PatientCareTeam, check_password_strength, check_timezone, may_read_patient,
                                       normalize_email, normalize_phone, parse_role)
from telehealth.errors import RuleViolation


@pytest.mark.parametrize("typed", ["(201) 555-0123", "201.555.0123", "201 555 0123", "+1 201 555 0123",
                                   "+12015550123", " 2015550123 ", "1-201-555-0123"])
def test_phones_are_normalised_to_e164(typed):
    assert normalize_phone(typed, "US") == "+12015550123"


@pytest.mark.parametrize("typed", ["", "   ", "555-0123", "hello", "+1 555 555 0100", "12345678901234567890",
                                   "+999 123"])
def test_malformed_phones_are_refused_with_an_example(typed):
    with pytest.raises(RuleViolation) as caught:
        normalize_phone(typed, "US")
    assert "phone" in caught.value.errors


def test_email_is_lowercased():
    assert normalize_email(" Dr.Raman@Clinic.Example.org ") == "dr.raman@clinic.example.org"


@pytest.mark.parametrize("typed", ["", "raman", "raman@", "@clinic.example.org", "a b@clinic.example.org"])
def test_malformed_emails_are_refused(typed):
    with pytest.raises(RuleViolation) as caught:
        normalize_email(typed)
    assert "email" in caught.value.errors


def test_roles_are_parsed_case_insensitively():
    assert parse_role(" Prescriber ") is Role.PRESCRIBER


@pytest.mark.parametrize("typed", ["", "doctor", "superuser", "sitter"])
def test_unknown_roles_are_refused_listing_the_known_ones(typed):
    with pytest.raises(RuleViolation) as caught:
        parse_role(typed)
    assert "prescriber" in caught.value.errors["role"][0]


def test_password_of_exactly_the_minimum_length_passes():
    check_password_strength("river-stone1", email="a@b.org", min_length=12)


def test_password_one_short_of_the_minimum_is_refused():
    with pytest.raises(RuleViolation, match="too weak"):
        check_password_strength("river-stone", email="a@b.org", min_length=12)


@pytest.mark.parametrize("password", ["", "            ", "passwordpassword", "aaaaaaaaaaaaaaaa", "abababababab"])
def test_empty_blank_and_common_passwords_are_refused(password):
    with pytest.raises(RuleViolation):
        check_password_strength(password, email="a@b.org", min_length=12)


def test_password_containing_the_email_name_is_refused():
    with pytest.raises(RuleViolation):
        check_password_strength("my-raman-password", email="raman@clinic.example.org", min_length=12)


def test_timezones_must_be_iana_names():
    assert check_timezone("America/Chicago") == "America/Chicago"
    with pytest.raises(RuleViolation):
        check_timezone("Central Time")


TEAM = PatientCareTeam(patient_user_id=10, prescriber_id=1, backup_prescriber_id=2)


@pytest.mark.parametrize("role,user_id,allowed", [
    (Role.PATIENT, 10, True),        # their own record
    (Role.PATIENT, 11, False),       # someone else's
    (Role.PRESCRIBER, 1, True),      # prescriber of record
    (Role.PRESCRIBER, 2, True),      # backup prescriber
    (Role.PRESCRIBER, 3, False),     # another prescriber
    (Role.COMPLIANCE, 4, True),      # compliance reads all
    (Role.PHARMACIST, 5, False),     # only through prescriptions to dispense (later issue)
    (Role.ADMIN, 6, False),          # admins have no clinical access
])
def test_who_may_read_a_patient_record(role, user_id, allowed):
    assert may_read_patient(role, user_id, TEAM) is allowed
