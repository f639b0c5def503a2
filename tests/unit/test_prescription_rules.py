"""Prescribing rules without a database (SPEC §3): screening, Schedule III terms, DEA numbers,
expiry, status transitions, who may read a prescription."""
from datetime import date

import pytest

from telehealth.errors import Conflict, RuleViolation
from telehealth.prescriptions import rules
from telehealth.prescriptions.rules import PrescriptionStatus as S

# Invented numbers. AB1234563: (1 + 3 + 5) + 2 × (2 + 4 + 6) = 33, check digit 3.
VALID_DEA = "AB1234563"
# FM2345672: (2 + 4 + 6) + 2 × (3 + 5 + 7) = 42, check digit 2.
OTHER_VALID_DEA = "FM2345672"


def screening(**changes):
    values = dict(contraindications=[], baseline_systolic=120, baseline_diastolic=80, phq9=14, gad7=9)
    values.update(changes)
    return rules.check_screening(**values)


def terms(**changes):
    values = dict(drug="ketamine HCl", strength_mg=100, dosage_form="sublingual lozenge", lozenges_per_dose=2,
                  quantity=16, refills=2, directions="Dissolve under the tongue with your sitter present.",
                  doses_in_series=8, min_hours_between_doses=72, max_doses_per_7_days=2)
    values.update(changes)
    return rules.check_prescription(**values)


def field_errors(call, *args, **kwargs) -> dict[str, list[str]]:
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    return caught.value.errors


# --- screening ---------------------------------------------------------------------------

def test_a_clean_screening_is_accepted_as_given():
    values = screening()
    assert (values.contraindications, values.baseline_systolic, values.baseline_diastolic, values.phq9,
            values.gad7) == ([], 120, 80, 14, 9)


def test_contraindications_are_normalised_deduplicated_and_put_in_checklist_order():
    values = screening(contraindications=[" Heart_Disease ", "uncontrolled_hypertension", "heart_disease"])
    assert values.contraindications == ["uncontrolled_hypertension", "heart_disease"]


def test_an_unknown_contraindication_is_named_in_the_error():
    errors = field_errors(screening, contraindications=["heart_disease", "vertigo"])
    assert "'vertigo'" in errors["contraindications"][0]


def test_a_bare_string_is_not_taken_for_a_checklist():
    assert "contraindications" in field_errors(screening, contraindications="heart_disease")


@pytest.mark.parametrize("systolic, diastolic", [(60, 30), (260, 160), (120, 119)])
def test_blood_pressure_at_the_plausible_edges_is_accepted(systolic, diastolic):
    assert screening(baseline_systolic=systolic, baseline_diastolic=diastolic).baseline_systolic == systolic


@pytest.mark.parametrize("systolic, diastolic, field", [
    (59, 40, "baseline_systolic"), (261, 90, "baseline_systolic"),
    (120, 29, "baseline_diastolic"), (200, 161, "baseline_diastolic"),
    (120, 120, "baseline_diastolic"),   # systolic must be above diastolic
    (120.5, 80, "baseline_systolic"), ("120", 80, "baseline_systolic"), (True, 80, "baseline_systolic"),
])
def test_implausible_blood_pressure_is_refused(systolic, diastolic, field):
    assert field in field_errors(screening, baseline_systolic=systolic, baseline_diastolic=diastolic)


@pytest.mark.parametrize("phq9, gad7, ok", [(0, 0, True), (27, 21, True), (28, 0, False), (0, 22, False),
                                            (-1, 0, False), (False, 0, False)])
def test_phq9_runs_0_to_27_and_gad7_0_to_21(phq9, gad7, ok):
    if ok:
        assert screening(phq9=phq9, gad7=gad7).phq9 == phq9
    else:
        assert field_errors(screening, phq9=phq9, gad7=gad7)


def test_every_screening_problem_is_reported_together():
    errors = field_errors(screening, contraindications=["nope"], baseline_systolic=20, phq9=99, gad7=None)
    assert set(errors) == {"contraindications", "baseline_systolic", "phq9", "gad7"}


def test_contraindications_block_prescribing_until_overridden_with_a_reason():
    assert rules.prescribing_blocked(["heart_disease"], None)
    assert rules.prescribing_blocked(["heart_disease"], "   ")
    assert not rules.prescribing_blocked(["heart_disease"], "Cardiology cleared her in writing.")
    assert not rules.prescribing_blocked([], None)


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 2001])
def test_an_override_reason_must_be_given_and_short_enough(reason):
    assert "override_reason" in field_errors(rules.check_override_reason, reason)


def test_the_blocked_message_names_each_contraindication_and_the_way_out():
    message = rules.blocked_message(["uncontrolled_hypertension", "heart_disease"])
    assert "uncontrolled hypertension, heart disease" in message and "override with a reason" in message


# --- prescription terms ------------------------------------------------------------------

def test_good_terms_are_accepted_with_texts_trimmed():
    accepted = terms(directions="  Take with your sitter present.  ")
    assert accepted.directions == "Take with your sitter present." and accepted.refills == 2


def test_five_refills_are_allowed():
    assert terms(refills=5).refills == 5


def test_a_sixth_refill_is_refused_in_schedule_iii_terms():
    assert field_errors(terms, refills=6)["refills"] == ["Schedule III allows at most 5 refills."]


@pytest.mark.parametrize("field, low, high", [
    ("strength_mg", 1, 1000), ("lozenges_per_dose", 1, 10), ("quantity", 1, rules.PRESCRIPTION_MAX_QUANTITY),
    ("refills", 0, 5), ("doses_in_series", 1, 52), ("min_hours_between_doses", 1, 720),
    ("max_doses_per_7_days", 1, 7),
])
def test_each_number_is_accepted_at_its_edges_and_refused_beyond(field, low, high):
    # One lozenge per dose and ten per fill, so that no edge trips the "holds one dose" rule.
    base = {"lozenges_per_dose": 1, "quantity": 10}
    assert getattr(terms(**{**base, field: low}), field) == low
    assert getattr(terms(**{**base, field: high}), field) == high
    assert field in field_errors(terms, **{**base, field: low - 1})
    assert field in field_errors(terms, **{**base, field: high + 1})


def test_the_quantity_must_hold_at_least_one_dose():
    assert "at least one dose" in field_errors(terms, lozenges_per_dose=3, quantity=2)["quantity"][0]


@pytest.mark.parametrize("field", ["drug", "dosage_form", "directions"])
def test_texts_must_not_be_blank(field):
    assert field in field_errors(terms, **{field: "  "})


def test_directions_are_at_most_1000_characters():
    assert terms(directions="d" * 1000)
    assert "directions" in field_errors(terms, directions="d" * 1001)


def test_every_problem_with_the_terms_is_reported_together():
    errors = field_errors(terms, strength_mg=0, refills=6, directions="", quantity=True)
    assert set(errors) == {"strength_mg", "refills", "directions", "quantity"}


# --- dates -------------------------------------------------------------------------------

def test_expiry_is_the_first_day_no_fill_is_allowed():
    assert rules.expiry_for(date(2026, 11, 20), 182) == date(2027, 5, 21)


def test_a_prescription_may_be_back_dated_7_days_but_not_8_nor_post_dated():
    today = date(2026, 11, 20)
    assert rules.check_issued_on(date(2026, 11, 13), today) == date(2026, 11, 13)
    assert "issued_on" in field_errors(rules.check_issued_on, date(2026, 11, 12), today)
    assert "issued_on" in field_errors(rules.check_issued_on, date(2026, 11, 21), today)


# --- DEA numbers -------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [VALID_DEA, OTHER_VALID_DEA, " ab1234563 "])
def test_a_dea_number_with_a_good_check_digit_is_accepted_in_capitals(raw):
    assert rules.check_dea_number(raw) in (VALID_DEA, OTHER_VALID_DEA)


def test_a_dea_number_with_a_wrong_check_digit_is_refused():
    assert "check digit" in field_errors(rules.check_dea_number, "AB1234564")["dea_number"][0]


@pytest.mark.parametrize("raw", ["", None, "A11234563", "AB123456", "AB12345634", "AB-1234563", "1B1234563"])
def test_a_malformed_dea_number_is_refused(raw):
    assert "two letters followed by seven digits" in field_errors(rules.check_dea_number, raw)["dea_number"][0]


# --- status ------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new", [
    (S.DRAFT, S.ACTIVE), (S.DRAFT, S.CANCELLED), (S.ACTIVE, S.SUSPENDED), (S.ACTIVE, S.COMPLETED),
    (S.ACTIVE, S.CANCELLED), (S.SUSPENDED, S.ACTIVE), (S.SUSPENDED, S.CANCELLED),
])
def test_allowed_transitions(old, new):
    rules.check_transition(old, new)


@pytest.mark.parametrize("old, new", [
    (S.DRAFT, S.SUSPENDED), (S.DRAFT, S.COMPLETED), (S.ACTIVE, S.DRAFT), (S.SUSPENDED, S.COMPLETED),
    (S.COMPLETED, S.ACTIVE), (S.CANCELLED, S.ACTIVE), (S.CANCELLED, S.DRAFT), (S.ACTIVE, S.ACTIVE),
])
def test_refused_transitions(old, new):
    with pytest.raises(Conflict):
        rules.check_transition(old, new)


def test_completed_and_cancelled_are_final():
    with pytest.raises(Conflict, match="it is final"):
        rules.check_transition("completed", "suspended")


def test_an_unknown_status_is_a_field_error():
    assert "status" in field_errors(rules.check_transition, "active", "paused")


def test_a_new_prescription_is_a_draft_or_active():
    assert rules.check_initial_status("draft") is S.DRAFT
    assert "status" in field_errors(rules.check_initial_status, "suspended")


@pytest.mark.parametrize("new", [S.SUSPENDED, S.CANCELLED])
def test_suspending_or_cancelling_needs_a_note(new):
    assert "note" in field_errors(rules.check_status_note, new, "  ")
    assert rules.check_status_note(new, " Patient moved abroad. ") == "Patient moved abroad."


def test_activating_or_completing_needs_no_note():
    assert rules.check_status_note(S.COMPLETED, "") is None


# --- who reads a prescription ------------------------------------------------------------

@pytest.mark.parametrize("role, user_id, allowed", [
    ("patient", 10, True), ("patient", 11, False), ("prescriber", 1, True), ("prescriber", 2, True),
    ("prescriber", 3, False), ("pharmacist", 4, True), ("compliance", 5, True), ("admin", 6, False),
    (None, None, False),
])
def test_who_may_read_a_prescription(role, user_id, allowed):
    assert rules.may_read_prescription(role, user_id, patient_user_id=10, care_team=(1, 2)) is allowed
