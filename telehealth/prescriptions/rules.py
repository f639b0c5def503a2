"""Pure prescribing rules (SPEC §3): the screening's checklist and baseline, the terms of a
Schedule III prescription, the DEA registration number, expiry, and status transitions.
Plain values in, normalised values or errors out.

Decisions:
- A screening's override reason is kept in full on the screening; the audit log records only its
  length, as free clinical text does not belong in a log every compliance export copies.
- A prescription may be back-dated a few days (paper signed on Friday, entered on Monday), never
  post-dated: a post-dated Schedule III prescription is not allowed.
- Expiry: no fill on or after `issued_on + window_days` (182 days by default: "none after 6 months").
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, timedelta

from telehealth.errors import Conflict, RuleViolation


class Contraindication(enum.Enum):
    """SPEC §3: each blocks prescribing unless the prescriber records an override with a reason."""

    UNCONTROLLED_HYPERTENSION = "uncontrolled_hypertension"
    PSYCHOSIS_OR_MANIA = "psychosis_or_mania"
    PREGNANCY_OR_BREASTFEEDING = "pregnancy_or_breastfeeding"
    SUBSTANCE_USE_DISORDER = "substance_use_disorder"
    HEART_DISEASE = "heart_disease"
    PRIOR_ADVERSE_REACTION = "prior_adverse_reaction"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class PrescriptionStatus(enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Where each status may go next; completed and cancelled are final.
TRANSITIONS: dict[PrescriptionStatus, frozenset[PrescriptionStatus]] = {
    PrescriptionStatus.DRAFT: frozenset({PrescriptionStatus.ACTIVE, PrescriptionStatus.CANCELLED}),
    PrescriptionStatus.ACTIVE: frozenset({PrescriptionStatus.SUSPENDED, PrescriptionStatus.COMPLETED,
                                          PrescriptionStatus.CANCELLED}),
    PrescriptionStatus.SUSPENDED: frozenset({PrescriptionStatus.ACTIVE, PrescriptionStatus.CANCELLED}),
    PrescriptionStatus.COMPLETED: frozenset(),
    PrescriptionStatus.CANCELLED: frozenset(),
}
# Stopping a prescription must say why: the next prescriber and the auditor will ask.
NOTE_REQUIRED_FOR = frozenset({PrescriptionStatus.SUSPENDED, PrescriptionStatus.CANCELLED})
INITIAL_STATUSES = frozenset({PrescriptionStatus.DRAFT, PrescriptionStatus.ACTIVE})

SCHEDULE_III_MAX_REFILLS = 5
DEFAULT_FILL_WINDOW_DAYS = 182    # the default of config SCHEDULE_III_FILL_WINDOW_DAYS
MAX_BACKDATE_DAYS = 7
# Lozenges per fill. A course is typically 6–12 doses of 1–2 lozenges; 60 covers the longest
# plausible fill while keeping a typo (600) from putting a large stock in someone's home.
PRESCRIPTION_MAX_QUANTITY = 60
MAX_TEXT = 2000                   # override reasons and status notes
MAX_DIRECTIONS = 1000

DEA_NUMBER = re.compile(r"^[A-Z]{2}[0-9]{7}$")


def _whole(value: object, low: int, high: int) -> bool:
    # bool is an int in Python; a checkbox's True must not pass as a blood pressure of 1.
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


# --- screening ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ScreeningValues:
    contraindications: list[str]    # Contraindication values, in the checklist's order, no repeats
    baseline_systolic: int
    baseline_diastolic: int
    phq9: int
    gad7: int


def check_screening(contraindications: list[str], baseline_systolic: object, baseline_diastolic: object,
                    phq9: object, gad7: object) -> ScreeningValues:
    errors: dict[str, list[str]] = {}
    found: set[Contraindication] = set()
    unknown: list[str] = []
    # A bare string would be read letter by letter: the checklist must be a list.
    if isinstance(contraindications, (str, bytes)) or not isinstance(contraindications, (list, tuple, set)):
        errors["contraindications"] = ["Give a list of the contraindications found (empty when none)."]
    else:
        for item in contraindications:
            try:
                found.add(Contraindication(item.strip().lower() if isinstance(item, str) else item))
            except (ValueError, TypeError):
                unknown.append(repr(item))
    if unknown:
        errors["contraindications"] = [f"Unknown contraindication {', '.join(unknown)}; choose from: "
                                       + ", ".join(c.value for c in Contraindication) + "."]
    if not _whole(baseline_systolic, 60, 260):
        errors["baseline_systolic"] = ["Give the systolic pressure in mmHg, a whole number from 60 to 260."]
    if not _whole(baseline_diastolic, 30, 160):
        errors["baseline_diastolic"] = ["Give the diastolic pressure in mmHg, a whole number from 30 to 160."]
    if "baseline_systolic" not in errors and "baseline_diastolic" not in errors \
            and baseline_systolic <= baseline_diastolic:  # type: ignore[operator]
        errors["baseline_diastolic"] = ["The diastolic pressure must be lower than the systolic."]
    if not _whole(phq9, 0, 27):
        errors["phq9"] = ["Give the PHQ-9 score, a whole number from 0 to 27."]
    if not _whole(gad7, 0, 21):
        errors["gad7"] = ["Give the GAD-7 score, a whole number from 0 to 21."]
    if errors:
        raise RuleViolation("The screening was not recorded.", errors)
    return ScreeningValues([c.value for c in Contraindication if c in found], baseline_systolic,  # type: ignore[arg-type]
                           baseline_diastolic, phq9, gad7)  # type: ignore[arg-type]


def _text(value: object, *, field: str, missing: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise RuleViolation(missing, {field: [missing]})
    if len(text) > limit:
        raise RuleViolation(f"Keep it under {limit} characters.", {field: [f"Keep it under {limit} characters."]})
    return text


def check_override_reason(reason: object) -> str:
    """The reason a prescriber prescribes despite the contraindications found."""
    return _text(reason, field="override_reason", limit=MAX_TEXT,
                 missing="Say why you prescribe despite the contraindications: an override needs a reason.")


def prescribing_blocked(contraindications: list[str], override_reason: str | None) -> bool:
    return bool(contraindications) and not (override_reason or "").strip()


def blocked_message(contraindications: list[str]) -> str:
    labels = ", ".join(Contraindication(c).label for c in contraindications)
    return (f"The latest screening found contraindications that block prescribing: {labels}. "
            "Record an override with a reason to prescribe anyway.")


# --- the prescription --------------------------------------------------------------------

@dataclass(frozen=True)
class PrescriptionTerms:
    drug: str
    strength_mg: int
    dosage_form: str
    lozenges_per_dose: int
    quantity: int
    refills: int
    directions: str
    doses_in_series: int
    min_hours_between_doses: int
    max_doses_per_7_days: int


def check_prescription(*, drug: object, strength_mg: object, dosage_form: object, lozenges_per_dose: object,
                       quantity: object, refills: object, directions: object, doses_in_series: object,
                       min_hours_between_doses: object, max_doses_per_7_days: object) -> PrescriptionTerms:
    """Every problem with a new prescription's terms, reported together."""
    errors: dict[str, list[str]] = {}
    for field, value, low, high, unit in (
            ("strength_mg", strength_mg, 1, 1000, "mg per lozenge"),
            ("lozenges_per_dose", lozenges_per_dose, 1, 10, "lozenges per dose"),
            ("quantity", quantity, 1, PRESCRIPTION_MAX_QUANTITY, "lozenges per fill"),
            ("doses_in_series", doses_in_series, 1, 52, "doses in the series"),
            ("min_hours_between_doses", min_hours_between_doses, 1, 720, "hours between doses"),
            ("max_doses_per_7_days", max_doses_per_7_days, 1, 7, "doses in any 7 days")):
        if not _whole(value, low, high):
            errors[field] = [f"Give the {unit}, a whole number from {low} to {high}."]
    if not _whole(refills, 0, 10 ** 6):
        errors["refills"] = [f"Give the number of refills, a whole number from 0 to {SCHEDULE_III_MAX_REFILLS}."]
    elif refills > SCHEDULE_III_MAX_REFILLS:  # type: ignore[operator]
        errors["refills"] = [f"Schedule III allows at most {SCHEDULE_III_MAX_REFILLS} refills."]
    if "quantity" not in errors and "lozenges_per_dose" not in errors \
            and quantity < lozenges_per_dose:  # type: ignore[operator]
        errors["quantity"] = [f"The quantity must hold at least one dose ({lozenges_per_dose} lozenges)."]
    texts = {}
    for field, value, limit, missing in (
            ("drug", drug, 80, "Name the drug."),
            ("dosage_form", dosage_form, 60, "Name the dosage form."),
            ("directions", directions, MAX_DIRECTIONS, "Write the directions for the patient.")):
        try:
            texts[field] = _text(value, field=field, missing=missing, limit=limit)
        except RuleViolation as exc:
            errors.update(exc.errors)
    if errors:
        raise RuleViolation("The prescription was not issued.", errors)
    return PrescriptionTerms(strength_mg=strength_mg, lozenges_per_dose=lozenges_per_dose,  # type: ignore[arg-type]
                             quantity=quantity, refills=refills, doses_in_series=doses_in_series,  # type: ignore[arg-type]
                             min_hours_between_doses=min_hours_between_doses,  # type: ignore[arg-type]
                             max_doses_per_7_days=max_doses_per_7_days, **texts)  # type: ignore[arg-type]


def check_issued_on(issued_on: date, today: date) -> date:
    if issued_on > today:
        raise RuleViolation("Post-dated.", {"issued_on": ["A prescription cannot be dated in the future."]})
    if (today - issued_on).days > MAX_BACKDATE_DAYS:
        raise RuleViolation("Back-dated too far.", {"issued_on": [
            f"A prescription can be dated at most {MAX_BACKDATE_DAYS} days back."]})
    return issued_on


def expiry_for(issued_on: date, window_days: int) -> date:
    """The first day on which the prescription may no longer be filled."""
    return issued_on + timedelta(days=window_days)


# --- the DEA registration number ---------------------------------------------------------

def check_dea_number(raw: object) -> str:
    """Two letters and seven digits, the last a check digit: (d1 + d3 + d5) + 2 × (d2 + d4 + d6),
    whose last digit is d7."""
    number = raw.strip().upper() if isinstance(raw, str) else ""
    if not DEA_NUMBER.match(number):
        raise RuleViolation("That is not a DEA number.", {"dea_number": [
            "A DEA number is two letters followed by seven digits, for example AB1234563."]})
    d = [int(c) for c in number[2:]]
    if (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 != d[6]:
        raise RuleViolation("That DEA number's check digit is wrong.", {"dea_number": [
            "The check digit does not match: look for a mistyped digit."]})
    return number


# --- status ------------------------------------------------------------------------------

def parse_status(value: object) -> PrescriptionStatus:
    try:
        return value if isinstance(value, PrescriptionStatus) else PrescriptionStatus(value)
    except ValueError:
        raise RuleViolation("Unknown status.", {"status": [
            "Choose one of: " + ", ".join(s.value for s in PrescriptionStatus) + "."]}) from None


def check_initial_status(value: object) -> PrescriptionStatus:
    status = parse_status(value)
    if status not in INITIAL_STATUSES:
        raise RuleViolation("A new prescription is a draft or active.", {"status": [
            "A new prescription is either draft or active."]})
    return status


def check_transition(old: PrescriptionStatus | str, new: PrescriptionStatus | str) -> None:
    old, new = parse_status(old), parse_status(new)
    if old is new:
        raise Conflict(f"The prescription is already {old.value}.")
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old])) or "nothing: it is final"
        raise Conflict(f"A {old.value} prescription cannot become {new.value}; it can become {allowed}.")


def check_status_note(new: PrescriptionStatus, note: object) -> str | None:
    """Required when suspending or cancelling; optional otherwise. Blank means none."""
    if new in NOTE_REQUIRED_FOR or (isinstance(note, str) and note.strip()):
        return _text(note, field="note", limit=MAX_TEXT,
                     missing=f"Say why the prescription is {new.value}: a note is required.")
    return None


# --- access ------------------------------------------------------------------------------

def may_read_prescription(role: str | None, user_id: int | None, *, patient_user_id: int,
                          care_team: tuple[int | None, ...]) -> bool:
    """SPEC §10: the patient reads their own; prescribers their own and backed-up patients';
    pharmacists read prescriptions to dispense them; compliance reads all."""
    if role in ("pharmacist", "compliance", "system"):
        return True
    if user_id is None:
        return False
    if role == "patient":
        return user_id == patient_user_id
    return role == "prescriber" and user_id in care_team
