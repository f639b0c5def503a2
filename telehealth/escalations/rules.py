"""Pure escalation rules (SPEC §5): reasons, severities, the paging plan and its clock, who may act.

A paging plan is data: ordered steps ("after N minutes, also page these people") and an optional
repeat interval. It is copied onto the escalation when it opens, so a policy change never alters
one in flight. The people active at a moment are always a prefix of the steps: those whose time
has come, plus any forced forward because a page to an earlier one failed.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Mapping


class Severity(enum.Enum):
    URGENT = "urgent"
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more severe."""
        return {"urgent": 3, "high": 2, "moderate": 1, "low": 0}[self.value]


class Reason(enum.Enum):
    MISSED_SITTER_ARRIVAL = "missed_sitter_arrival"
    MISSED_PRE_DOSE_REPORT = "missed_pre_dose_report"
    MISSED_POST_DOSE_REPORT = "missed_post_dose_report"
    MISSED_RELEASE = "missed_release"
    MISSED_OBSERVATION_CHECK = "missed_observation_check"
    MISSED_DOSE_TAKEN = "missed_dose_taken"
    PRE_DOSE_HOLD = "pre_dose_hold"
    ADVERSE_FINDING = "adverse_finding"
    SOS = "sos"
    CRISIS_PHRASE = "crisis_phrase"
    OPTED_OUT_MID_COURSE = "opted_out_mid_course"
    RECEIPT_DISCREPANCY = "receipt_discrepancy"
    RECEIPT_OVERDUE = "receipt_overdue"
    SHIPMENT_LOST = "shipment_lost"
    INVENTORY_DISCREPANCY = "inventory_discrepancy"

    @property
    def is_compliance(self) -> bool:
        """Inventory and receipt problems go to compliance staff, not prescribers."""
        return self in COMPLIANCE_REASONS

    @property
    def label(self) -> str:
        """How a page names the reason: minimum necessary, no drug, dose amount or diagnosis."""
        return REASON_LABELS[self]


COMPLIANCE_REASONS = frozenset({Reason.RECEIPT_DISCREPANCY, Reason.RECEIPT_OVERDUE, Reason.SHIPMENT_LOST,
                                Reason.INVENTORY_DISCREPANCY})

REASON_LABELS = {
    Reason.MISSED_SITTER_ARRIVAL: "sitter did not arrive",
    Reason.MISSED_PRE_DOSE_REPORT: "missed check-in before session",
    Reason.MISSED_POST_DOSE_REPORT: "missed check-in after session",
    Reason.MISSED_RELEASE: "sitter has not released",
    Reason.MISSED_OBSERVATION_CHECK: "missed observation check",
    # Low (not paged) when no TAKEN came in time; raised to high when one came after the clearance
    # ended: "missing or late" is true of both, and a page is always the late one.
    Reason.MISSED_DOSE_TAKEN: "TAKEN missing or late after clearance",
    Reason.PRE_DOSE_HOLD: "session on hold",
    Reason.ADVERSE_FINDING: "adverse finding",
    Reason.SOS: "SOS received",
    Reason.CRISIS_PHRASE: "crisis words in a text",
    Reason.OPTED_OUT_MID_COURSE: "opted out of texts",
    Reason.RECEIPT_DISCREPANCY: "package count differs",
    Reason.RECEIPT_OVERDUE: "package receipt overdue",
    Reason.SHIPMENT_LOST: "package reported lost",
    Reason.INVENTORY_DISCREPANCY: "count on hand differs",
}


class State(enum.Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Outcome(enum.Enum):
    REACHED_PATIENT = "reached_patient"
    EMERGENCY_SERVICES = "emergency_services"
    DOSE_RESCHEDULED = "dose_rescheduled"
    NO_ACTION_NEEDED = "no_action_needed"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {"reached_patient": "reached patient", "emergency_services": "emergency services",
                "dose_rescheduled": "session rescheduled", "no_action_needed": "no action needed",
                "other": "other"}[self.value]


class Target(enum.Enum):
    """Whom a paging step adds."""

    PRESCRIBER = "prescriber"   # the patient's prescriber of record
    BACKUP = "backup"           # the patient's backup prescriber
    ON_CALL = "on_call"         # every prescriber flagged on call now
    COMPLIANCE = "compliance"   # every active compliance officer


@dataclass(frozen=True)
class PagingStep:
    after: timedelta
    add: tuple[Target, ...]


@dataclass(frozen=True)
class PagingPlan:
    steps: tuple[PagingStep, ...]
    repeat: timedelta | None  # re-page everyone active this often, until acknowledged

    def to_json(self) -> dict[str, Any]:
        return {"repeat_seconds": self.repeat.total_seconds() if self.repeat else None,
                "steps": [{"after_seconds": s.after.total_seconds(), "add": [t.value for t in s.add]}
                          for s in self.steps]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "PagingPlan":
        repeat = data.get("repeat_seconds")
        return cls(steps=tuple(PagingStep(timedelta(seconds=s["after_seconds"]), tuple(Target(t) for t in s["add"]))
                               for s in data["steps"]),
                   repeat=timedelta(seconds=repeat) if repeat else None)


def plan_for(severity: Severity, reason: Reason, config: Mapping[str, Any]) -> PagingPlan:
    """The policy (SPEC §5 defaults, every number from config) for a new escalation."""
    def minutes(name: str) -> timedelta:
        return timedelta(minutes=float(config[name]))

    def repeat(name: str) -> timedelta | None:
        return minutes(name) if float(config[name]) > 0 else None

    if severity is Severity.LOW:
        return PagingPlan(steps=(), repeat=None)  # dashboard only
    if reason.is_compliance:
        urgent = severity in (Severity.URGENT, Severity.HIGH)
        return PagingPlan(steps=(PagingStep(timedelta(0), (Target.COMPLIANCE,)),),
                          repeat=repeat("ESCALATION_COMPLIANCE_REPEAT_MINUTES") if urgent else None)
    if severity is Severity.MODERATE:
        return PagingPlan(steps=(PagingStep(timedelta(0), (Target.PRESCRIBER,)),
                                 PagingStep(minutes("ESCALATION_MODERATE_BACKUP_AFTER_MINUTES"), (Target.BACKUP,))),
                          repeat=repeat("ESCALATION_MODERATE_REPEAT_MINUTES"))
    key = "URGENT" if severity is Severity.URGENT else "HIGH"
    return PagingPlan(steps=(PagingStep(timedelta(0), (Target.PRESCRIBER,)),
                             PagingStep(minutes(f"ESCALATION_{key}_BACKUP_AFTER_MINUTES"), (Target.BACKUP,)),
                             PagingStep(minutes(f"ESCALATION_{key}_ON_CALL_AFTER_MINUTES"), (Target.ON_CALL,))),
                      repeat=repeat(f"ESCALATION_{key}_REPEAT_MINUTES"))


@dataclass(frozen=True)
class Tick:
    """What one paging tick does: page `page_steps` of the plan, then wait until `next_page_at`."""

    page_steps: range
    steps_active: int
    next_page_at: datetime | None


def active_steps(plan: PagingPlan, started_at: datetime, at: datetime, forced: int = 0) -> int:
    elapsed = at - started_at
    by_time = sum(1 for step in plan.steps if step.after <= elapsed)
    return min(len(plan.steps), max(by_time, forced))


def next_slot(plan: PagingPlan, started_at: datetime, after: datetime) -> datetime | None:
    """The first moment after `after` when paging is due: a repeat, or a step's time."""
    elapsed = after - started_at
    candidates = [started_at + step.after for step in plan.steps if step.after > elapsed]
    if plan.repeat and plan.steps:
        candidates.append(started_at + plan.repeat * (int(elapsed / plan.repeat) + 1))
    return min(candidates) if candidates else None


def plan_tick(plan: PagingPlan, started_at: datetime, now: datetime, *, steps_paged: int, forced: int = 0) -> Tick:
    """One tick at `now`. With a repeat, everyone active is paged again; without one, only the
    steps that became active since the last tick. A scheduler that was down pages once on return,
    not once per missed slot."""
    active = active_steps(plan, started_at, now, forced)
    first = 0 if plan.repeat else steps_paged
    return Tick(page_steps=range(first, active), steps_active=active,
                next_page_at=next_slot(plan, started_at, now))


def force_next_step(plan: PagingPlan, started_at: datetime, now: datetime, forced: int) -> int:
    """A page failed for good: make the next step active at once (if there is one)."""
    return min(len(plan.steps), max(active_steps(plan, started_at, now, forced), forced) + 1)


def is_on_call(flag: bool, start: time | None, end: time | None, local_now: time) -> bool:
    """On call when flagged, and within the hours if any are set (a span may cross midnight)."""
    if not flag:
        return False
    if start is None or end is None or start == end:
        return True
    if start < end:
        return start <= local_now < end
    return local_now >= start or local_now < end


def may_act(role: str | None, user_id: int | None, *, care_team: tuple[int | None, ...], paged: set[int],
            compliance: bool) -> bool:
    """Acknowledge or resolve: a prescriber on the patient's care team, or one who was paged;
    compliance officers own the compliance escalations."""
    if role == "prescriber":
        return not compliance and user_id is not None and (user_id in care_team or user_id in paged)
    if role == "compliance":
        return compliance
    return False


def may_read(role: str | None, user_id: int | None, *, care_team: tuple[int | None, ...], paged: set[int]) -> bool:
    if role == "compliance":
        return True
    return role == "prescriber" and user_id is not None and (user_id in care_team or user_id in paged)


OUTCOME_WORDS = (("reached", Outcome.REACHED_PATIENT), ("spoke", Outcome.REACHED_PATIENT),
                 ("911", Outcome.EMERGENCY_SERVICES), ("ems", Outcome.EMERGENCY_SERVICES),
                 ("emergency", Outcome.EMERGENCY_SERVICES), ("resched", Outcome.DOSE_RESCHEDULED),
                 ("no action", Outcome.NO_ACTION_NEEDED), ("false alarm", Outcome.NO_ACTION_NEEDED))


def outcome_from_note(note: str) -> Outcome:
    """`RESOLVE 482 <note>` by SMS: the outcome is read from the note's first words, else "other"."""
    start = note.strip().lower()[:40]
    for word, outcome in OUTCOME_WORDS:
        if start.startswith(word):
            return outcome
    return Outcome.OTHER
