"""Every SMS template names the clinic, never the drug, a dose or a diagnosis, and fits in two segments."""
import inspect
import re

import pytest

from telehealth.accounts import sitters
from telehealth.dispensing import operations as dispensing
from telehealth.dispensing.rules import check_count
from telehealth.dosing import checkins, rules as dosing_rules
from telehealth.errors import RuleViolation
from telehealth.escalations.rules import Outcome, Reason
from telehealth.inbound import dosing as inbound_dosing
from telehealth.inbound.parsing import parse
from telehealth.messaging import templates
from telehealth.messaging.templates import Sms, segments

CLINIC = "Lakeside Clinic"
# Words no SMS may carry (SPEC §6): the drug and its forms, amounts, diagnoses.
FORBIDDEN = re.compile(r"\b(ketamine|esketamine|spravato|lozenges?|troches?|tablets?|rdt|mg|milligrams?|doses?|"
                       r"dosing|dosage|depress\w*|ptsd|anxiety|bipolar|psychosis|mania|diagnos\w*|"
                       r"controlled substance|schedule iii)\b", re.IGNORECASE)

def count_problem() -> str:
    """What a patient is told after an implausible count (the longest: the plausible maximum)."""
    try:
        check_count(-1, 9_999)
    except RuleViolation as error:
        return error.errors["count"][0]
    raise AssertionError("a negative count must be refused")


# Sample values for every parameter any template takes, at their longest.
SAMPLES = {"clinic": CLINIC, "party_kind": "patient", "number": 9_999_999, "severity": "moderate",
           "initials": "ABC", "dose_number": 12, "code": 999_999, "count": 9_999,
           # A sitter's link on a long clinic address: the token is 22 characters.
           "link": "https://lakeside-behavioral-health.example.org/s/" + "x" * 22,
           # The longest local time a text can carry.
           "time": "Wed 30 Sep 12:30 PM AKDT",
           "summary": "Your session at 12:30 PM AKDT is open: text READY for your check-in and your sitter "
                      "texts HERE, by 1:00 PM AKDT."}
PROBLEMS = [parse(text).problem for text in ("RECEIVED", "RECEIVED eight", "ACK abc", "RESOLVE 482", "RESOLVE",
                                             "OK 128")] + [dosing_rules.RELEASE_BP_PROBLEM] + [
    sitters.CODE_WRONG, sitters.CODE_EXPIRED, dispensing.NO_PACKAGE_WAITING, count_problem()] + [
    question.problem for question in dosing_rules.BY_KEY.values()] + [
    checkins.NOT_ACTIVE, checkins.TOO_SOON, checkins.WEEKLY_LIMIT, checkins.NOTHING_ON_HAND,
    checkins.SESSION_ENDED, checkins.CLEARANCE_EXPIRED, checkins.SITTER_OPTED_OUT] + [
    *inbound_dosing.FOR_THE_SITTER.values(), inbound_dosing.FOR_THE_PATIENT, inbound_dosing.NOT_NOW]
# Values that take turns: each is rendered once per entry.
VARIANTS = {"reason": [reason.label for reason in Reason], "outcome": [outcome.label for outcome in Outcome],
            "key": list(templates.QUESTION_PROMPTS)}


def every_rendering() -> list[Sms]:
    rendered = []
    for name, function in inspect.getmembers(templates, inspect.isfunction):
        if function.__module__ != templates.__name__ or name == "segments" or name.startswith("_"):
            continue
        parameters = inspect.signature(function).parameters
        if "problem" in parameters:
            rendered += [function(CLINIC, problem) for problem in PROBLEMS if problem]
        elif "party_kind" in parameters:
            rendered += [function(CLINIC, kind) for kind in ("patient", "sitter", "prescriber", "staff", "unknown")]
        else:
            varying = [p for p in parameters if p in VARIANTS]
            values = VARIANTS[varying[0]] if varying else [None]
            for value in values:
                arguments = {p: SAMPLES[p] for p in parameters if p not in VARIANTS}
                if varying:
                    arguments[varying[0]] = value
                rendered.append(function(**arguments))
    return rendered


RENDERINGS = every_rendering()


def test_every_template_is_covered():
    assert len({sms.template for sms in RENDERINGS}) >= 8
    assert all(PROBLEMS), "every malformed keyword explains itself"


@pytest.mark.parametrize("sms", RENDERINGS, ids=lambda sms: sms.template)
def test_every_message_names_the_clinic(sms):
    assert sms.body.startswith(f"{CLINIC}: ")


@pytest.mark.parametrize("sms", RENDERINGS, ids=lambda sms: sms.template)
def test_no_message_names_the_drug_a_dose_or_a_diagnosis(sms):
    assert FORBIDDEN.search(sms.body) is None, sms.body


@pytest.mark.parametrize("sms", RENDERINGS, ids=lambda sms: sms.template)
def test_every_message_fits_in_two_segments(sms):
    assert segments(sms.body) <= 2, (len(sms.body), sms.body)


def test_the_forbidden_word_check_can_fail():
    assert FORBIDDEN.search("Take your 56 mg dose now")


def test_crisis_reply_gives_988_and_911():
    body = templates.crisis_reply(CLINIC).body
    assert "988" in body and "911" in body


@pytest.mark.parametrize("length,expected", [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_segment_edges(length, expected):
    assert segments("a" * length) == expected


@pytest.mark.parametrize("length,expected", [(70, 1), (71, 2), (134, 2), (135, 3)])
def test_unicode_segment_edges(length, expected):
    assert segments("ā" * length) == expected  # ā is outside GSM-7: the message goes as UCS-2


def test_extended_gsm_characters_count_twice():
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2
