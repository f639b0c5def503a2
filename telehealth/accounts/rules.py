"""Pure rules about accounts: parsing and checking what people type, and who may read what.

Nothing here touches the database or Flask; each function takes plain values.
"""
from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from telehealth.accounts.models import Role
from telehealth.errors import RuleViolation

# A short list of passwords every attacker tries first; length does the rest (NIST 800-63B:
# length and a blocklist, no composition rules).
COMMON_PASSWORDS = frozenset({
    "password", "password1", "password123", "123456789012", "qwertyuiopas", "letmeinletmein",
    "iloveyou1234", "welcome12345", "administrator", "passwordpassword", "changeme1234",
    "111111111111", "000000000000", "abcdefghijkl", "qwerty123456", "1234567890ab",
})


def normalize_phone(raw: str, default_region: str) -> str:
    """Any way a person writes a phone number, as E.164 (`+12015550123`), or a RuleViolation."""
    text = (raw or "").strip()
    if not text:
        raise RuleViolation("A phone number is required.", {"phone": ["Enter a phone number."]})
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise RuleViolation("That is not a valid phone number.",
                            {"phone": ["Enter a full phone number, for example (201) 555-0123 or +12015550123."]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    number = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def normalize_email(raw: str) -> str:
    try:
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise RuleViolation("That is not a valid email address.", {"email": [str(exc)]}) from exc
    return result.normalized.lower()


def parse_role(raw: str) -> Role:
    try:
        return Role((raw or "").strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise RuleViolation(f"Unknown role {raw!r}.", {"role": [f"Choose one of: {allowed}."]}) from None


def check_password_strength(password: str, *, email: str, min_length: int) -> None:
    problems = []
    if not password or not password.strip():
        problems.append("Enter a password.")
    elif len(password) < min_length:
        problems.append(f"Use at least {min_length} characters.")
    elif len(password) > 256:
        problems.append("Use at most 256 characters.")
    elif password.lower() in COMMON_PASSWORDS or len(set(password)) < 4:
        problems.append("That password is too easy to guess.")
    else:
        local_part = email.split("@", 1)[0].lower()
        if len(local_part) >= 4 and local_part in password.lower():
            problems.append("Do not use your email address in your password.")
    if problems:
        raise RuleViolation("The password is too weak.", {"password": problems})


def check_timezone(name: str) -> str:
    if name not in _timezones():
        raise RuleViolation("Unknown time zone.", {"timezone": ["Use an IANA name such as America/Chicago."]})
    return name


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True)
class PatientCareTeam:
    """What the access rule needs to know about a patient."""

    patient_user_id: int
    prescriber_id: int
    backup_prescriber_id: int | None


def may_read_patient(role: Role, user_id: int, team: PatientCareTeam) -> bool:
    """SPEC §10: patients read their own record; prescribers their own patients and those they
    back up; compliance reads all. Pharmacists reach patients only through prescriptions to
    dispense (the dispensing issue); admins manage accounts, not clinical data."""
    if role is Role.PATIENT:
        return user_id == team.patient_user_id
    if role is Role.PRESCRIBER:
        return user_id in (team.prescriber_id, team.backup_prescriber_id)
    return role is Role.COMPLIANCE
