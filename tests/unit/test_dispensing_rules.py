"""The pure dispensing rules (SPEC §3, §8): Schedule III fill limits, who dispenses, good lots,
plausible counts, and how each ledger movement moves on hand."""
from datetime import date, timedelta

import pytest

from config.clinical import CLINICAL_DEFAULTS
from telehealth.dispensing.rules import (check_count, check_dispenser, check_fill, check_lot, check_removal,
                                         signed_quantity)
from telehealth.errors import NotAllowed, RuleViolation
from telehealth.prescriptions.rules import PrescriptionStatus

ISSUED = date(2026, 11, 20)
WINDOW = CLINICAL_DEFAULTS["SCHEDULE_III_FILL_WINDOW_DAYS"]
MAX_COUNT = CLINICAL_DEFAULTS["INVENTORY_MAX_PLAUSIBLE_COUNT"]


def fill(**changes) -> None:
    """check_fill on an active prescription issued ISSUED (8 per fill, 5 refills), filled the
    day it was issued, unless `changes` say otherwise."""
    arguments = dict(status="active", fill_number=1, refills=5, issued_on=ISSUED,
                     expires_on=ISSUED + timedelta(days=182), today=ISSUED, quantity=8, max_quantity=8,
                     window_days=WINDOW)
    check_fill(**{**arguments, **changes})


def fill_errors(**changes) -> dict[str, list[str]]:
    with pytest.raises(RuleViolation) as refused:
        fill(**changes)
    return refused.value.errors


# --- check_fill --------------------------------------------------------------------------

def test_the_schedule_iii_window_is_182_days_by_default():
    assert WINDOW == 182


def test_the_original_fill_on_the_day_of_issue_is_allowed():
    fill()


def test_the_fifth_refill_is_allowed_when_five_refills_were_prescribed():
    fill(fill_number=6, refills=5)


def test_a_sixth_refill_is_refused():
    errors = fill_errors(fill_number=7, refills=5)
    assert errors["prescription"] == ["No refills left: 5 refill(s) allowed and 5 already dispensed."]


def test_a_prescription_without_refills_is_filled_once():
    fill(fill_number=1, refills=0)
    assert "prescription" in fill_errors(fill_number=2, refills=0)


def test_day_181_after_issue_is_the_last_day_a_fill_is_allowed():
    fill(today=ISSUED + timedelta(days=181))


def test_day_182_after_issue_is_refused_as_past_the_six_month_window():
    errors = fill_errors(today=ISSUED + timedelta(days=182))
    assert errors["prescription"] == [
        "Issued 182 days ago: Schedule III allows no fill 182 or more days after issue."]


def test_a_prescription_expiring_earlier_than_the_window_is_refused_from_its_expiry_day():
    expires = ISSUED + timedelta(days=90)
    fill(expires_on=expires, today=expires - timedelta(days=1))
    assert fill_errors(expires_on=expires, today=expires)["prescription"] == [
        f"The prescription expired on {expires.isoformat()}."]


def test_a_prescription_dated_in_the_future_is_refused():
    assert "The prescription is dated in the future." in fill_errors(today=ISSUED - timedelta(days=1))["prescription"]


@pytest.mark.parametrize("status", [s.value for s in PrescriptionStatus if s is not PrescriptionStatus.ACTIVE])
def test_a_prescription_that_is_not_active_is_refused(status):
    assert fill_errors(status=status)["prescription"][0].startswith(f"The prescription is {status}, not active")


def test_every_reason_a_fill_is_refused_is_reported_together():
    errors = fill_errors(status="cancelled", fill_number=7, quantity=0)
    assert len(errors["prescription"]) == 2 and "quantity" in errors


@pytest.mark.parametrize("quantity", [0, -1])
def test_a_fill_of_nothing_or_less_is_refused(quantity):
    assert fill_errors(quantity=quantity)["quantity"] == ["Give a whole number of at least 1."]


def test_a_fill_of_more_than_the_prescribed_quantity_is_refused():
    fill(quantity=8, max_quantity=8)
    assert fill_errors(quantity=9, max_quantity=8)["quantity"] == ["At most 8 per fill on this prescription."]


@pytest.mark.parametrize("quantity", [True, 4.0, "8", None])
def test_a_fill_quantity_that_is_not_a_whole_number_is_refused(quantity):
    assert "quantity" in fill_errors(quantity=quantity)


def test_a_partial_fill_is_allowed():
    fill(quantity=1)


# --- check_dispenser ---------------------------------------------------------------------

def test_a_pharmacist_may_dispense():
    check_dispenser(role="pharmacist", user_id=7, prescriber_id=3)


def test_the_prescriber_of_the_prescription_may_not_dispense_it_even_as_a_pharmacist():
    with pytest.raises(NotAllowed, match="Segregation of duties"):
        check_dispenser(role="pharmacist", user_id=3, prescriber_id=3)


@pytest.mark.parametrize("role", ["prescriber", "compliance", "admin", "patient", "system", None])
def test_only_pharmacists_dispense(role):
    with pytest.raises(NotAllowed, match="Only pharmacists dispense"):
        check_dispenser(role=role, user_id=7, prescriber_id=3)


# --- check_lot ---------------------------------------------------------------------------

def test_a_lot_expiring_tomorrow_may_be_dispensed_and_its_number_is_normalised():
    assert check_lot("  lot-2026a ", ISSUED + timedelta(days=1), ISSUED) == ("LOT-2026A", ISSUED + timedelta(days=1))


def test_a_lot_expiring_today_is_refused():
    with pytest.raises(RuleViolation) as refused:
        check_lot("LOT1", ISSUED, ISSUED)
    assert list(refused.value.errors) == ["lot_expiry"]


def test_an_expired_lot_is_refused():
    with pytest.raises(RuleViolation) as refused:
        check_lot("LOT1", ISSUED - timedelta(days=1), ISSUED)
    assert list(refused.value.errors) == ["lot_expiry"]


def test_a_lot_without_an_expiry_is_refused():
    with pytest.raises(RuleViolation) as refused:
        check_lot("LOT1", None, ISSUED)
    assert list(refused.value.errors) == ["lot_expiry"]


@pytest.mark.parametrize("lot", ["", "   ", "-LOT1", "LOT 1", "LOT/1", "LÖT1", "A" * 41, None])
def test_a_malformed_lot_number_is_refused(lot):
    with pytest.raises(RuleViolation) as refused:
        check_lot(lot, ISSUED + timedelta(days=30), ISSUED)
    assert list(refused.value.errors) == ["lot_number"]


def test_a_forty_character_lot_number_is_accepted():
    assert check_lot("A" * 40, ISSUED + timedelta(days=30), ISSUED)[0] == "A" * 40


# --- check_count -------------------------------------------------------------------------

@pytest.mark.parametrize("count", [0, 8, MAX_COUNT])
def test_a_whole_count_from_zero_to_the_maximum_is_plausible(count):
    assert check_count(count, MAX_COUNT) == count


@pytest.mark.parametrize("count", [-1, MAX_COUNT + 1, 10 ** 9])
def test_a_count_below_zero_or_above_the_maximum_is_refused(count):
    with pytest.raises(RuleViolation) as refused:
        check_count(count, MAX_COUNT)
    assert list(refused.value.errors) == ["count"]


@pytest.mark.parametrize("count", [True, False, 8.0, 7.5, "8", None])
def test_a_count_that_is_not_a_whole_number_is_refused(count):
    with pytest.raises(RuleViolation):
        check_count(count, MAX_COUNT)


def test_a_refused_count_names_the_field_it_was_given_as():
    with pytest.raises(RuleViolation) as refused:
        check_count(-1, MAX_COUNT, field="on_hand")
    assert list(refused.value.errors) == ["on_hand"]


# --- check_removal -----------------------------------------------------------------------

def test_removing_up_to_what_is_on_hand_is_allowed():
    assert check_removal(1, 4) == 1
    assert check_removal(4, 4) == 4


def test_removing_more_than_is_on_hand_is_refused():
    with pytest.raises(RuleViolation) as refused:
        check_removal(5, 4)
    assert refused.value.errors == {"quantity": ["Only 4 on hand in this lot."]}


@pytest.mark.parametrize("quantity", [0, -1, True, 1.0, "1", None])
def test_removing_nothing_or_a_non_whole_number_is_refused(quantity):
    with pytest.raises(RuleViolation) as refused:
        check_removal(quantity, 4)
    assert refused.value.errors == {"quantity": ["Give a whole number of at least 1."]}


# --- the ledger --------------------------------------------------------------------------

def test_each_movement_kind_moves_on_hand_its_own_way():
    assert [signed_quantity(kind, 2) for kind in ("received", "dose_taken", "wasted", "returned",
                                                  "count_reported")] == [2, -2, -2, -2, 0]
