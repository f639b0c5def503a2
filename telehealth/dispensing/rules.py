"""Pure dispensing rules (SPEC §3, §8): may this fill happen, who may dispense, is the lot good,
is a count plausible, how each ledger movement moves on hand. Plain values in, errors or answers out.
On hand and overdue receipts are decided by the database (`inventory.on_hand_by_lot`,
`operations.overdue_receipt_ids`), so they have no twin here.

Decisions:
- Fill window: a fill is allowed while `today - issued_on` is under `window_days` (182 by default:
  day 181 after issue is the last allowed day) and before the prescription's own `expires_on`.
- A lot expiring today is refused: the package would arrive expired. The lot must expire after today.
- Counts are whole numbers 0..`max_count` (config INVENTORY_MAX_PLAUSIBLE_COUNT).
"""
from __future__ import annotations

import re
from datetime import date

from telehealth.errors import NotAllowed, RuleViolation

LOT_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{3,59}$")
FORM_106_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")
ALL_LOTS = "*"   # the lot of a COUNT_REPORTED entry that counts every lot together

# Signs of each movement kind's quantity (values of MovementKind; COUNT_REPORTED moves nothing).
# A correction's amount is already signed (it may add or take away), so its sign is +1.
SIGN = {"received": 1, "dose_taken": -1, "wasted": -1, "returned": -1, "count_reported": 0, "correction": 1}


def check_fill(*, status: str, fill_number: int, refills: int, issued_on: date, expires_on: date, today: date,
               quantity: int, max_quantity: int, window_days: int) -> None:
    """Raise RuleViolation (field errors) unless this fill may be dispensed."""
    errors: dict[str, list[str]] = {}
    if status != "active":
        errors["prescription"] = [f"The prescription is {status}, not active: it cannot be filled."]
    if fill_number > 1 + refills:
        used = fill_number - 2
        errors.setdefault("prescription", []).append(
            f"No refills left: {refills} refill(s) allowed and {used} already dispensed.")
    days = (today - issued_on).days
    if days >= window_days:
        errors.setdefault("prescription", []).append(
            f"Issued {days} days ago: Schedule III allows no fill {window_days} or more days after issue.")
    elif today >= expires_on:
        errors.setdefault("prescription", []).append(f"The prescription expired on {expires_on.isoformat()}.")
    if days < 0:
        errors.setdefault("prescription", []).append("The prescription is dated in the future.")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        errors["quantity"] = ["Give a whole number of at least 1."]
    elif quantity > max_quantity:
        errors["quantity"] = [f"At most {max_quantity} per fill on this prescription."]
    if errors:
        raise RuleViolation("This fill cannot be dispensed.", errors)


def check_dispenser(*, role: str | None, user_id: int | None, prescriber_id: int) -> None:
    """Segregation of duties: a pharmacist, never the prescriber of this prescription."""
    if user_id is not None and user_id == prescriber_id:
        raise NotAllowed("Segregation of duties: the prescriber of a prescription cannot dispense it.",
                         object_type="prescription")
    if role != "pharmacist":
        raise NotAllowed("Only pharmacists dispense.", object_type="prescription")


def check_lot(lot_number: str, lot_expiry: date | None, today: date) -> tuple[str, date]:
    errors: dict[str, list[str]] = {}
    lot = (lot_number or "").strip().upper()
    if not LOT_NUMBER.match(lot):
        errors["lot_number"] = ["Give the lot number: letters, digits and hyphens, up to 40."]
    if lot_expiry is None:
        errors["lot_expiry"] = ["Give the lot's expiry date."]
    elif lot_expiry <= today:
        errors["lot_expiry"] = [f"Lot expired (or expires today, {lot_expiry.isoformat()}): it cannot be dispensed."]
    if errors:
        raise RuleViolation("This lot cannot be dispensed.", errors)
    return lot, lot_expiry  # type: ignore[return-value]


def check_count(count: object, max_count: int, field: str = "count") -> int:
    """A count someone found or reports: a whole number 0..max_count."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 0 or count > max_count:
        raise RuleViolation("That count is not plausible.",
                            {field: [f"Give the number of items counted, a whole number from 0 to {max_count}."]})
    return count


def check_removal(quantity: object, on_hand: int, field: str = "quantity") -> int:
    """Wasting or returning: at least 1, at most what is on hand for the lot."""
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise RuleViolation("That quantity is not valid.", {field: ["Give a whole number of at least 1."]})
    if quantity > on_hand:
        raise RuleViolation("That is more than is on hand.", {field: [f"Only {on_hand} on hand in this lot."]})
    return quantity


def signed_quantity(kind: str, amount: int) -> int:
    """The ledger's signed change for a movement of `amount` items."""
    return SIGN[kind] * amount


def check_correction(change: object, *, on_hand: int, max_count: int, field: str = "quantity") -> int:
    """A correction's signed change to on hand: not zero, plausible, and never leaving the lot
    below nothing."""
    if not isinstance(change, int) or isinstance(change, bool) or change == 0 or abs(change) > max_count:
        raise RuleViolation("That correction is not valid.", {field: [
            f"Give the change to on hand as a whole number, + or -, not 0, at most {max_count} either way."]})
    if on_hand + change < 0:
        raise RuleViolation("That would leave less than nothing on hand.",
                            {field: [f"Only {on_hand} on hand in this lot; take away at most that."]})
    return change
