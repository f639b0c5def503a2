"""The paging plan and its clock (SPEC §5), as pure functions."""
from datetime import datetime, time, timedelta, timezone

import pytest

from config.clinical import CLINICAL_DEFAULTS
from telehealth.escalations.rules import (Outcome, PagingPlan, Reason, Severity, Target, is_on_call, may_act,
                                          may_read, outcome_from_note, plan_for, plan_tick)

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)


def targets_paged(plan: PagingPlan, minutes: float, steps_paged: int = 0, forced: int = 0) -> list[Target]:
    tick = plan_tick(plan, T0, T0 + timedelta(minutes=minutes), steps_paged=steps_paged, forced=forced)
    return [t for i in tick.page_steps for t in plan.steps[i].add]


def walk(plan: PagingPlan, until_minutes: float) -> list[tuple[float, list[str]]]:
    """Follow the plan tick by tick, as the scheduler would, and say who is paged when."""
    pages, at, steps_paged = [], T0, 0
    while at is not None and at <= T0 + timedelta(minutes=until_minutes):
        tick = plan_tick(plan, T0, at, steps_paged=steps_paged)
        who = [t.value for i in tick.page_steps for t in plan.steps[i].add]
        if who:
            pages.append(((at - T0).total_seconds() / 60, who))
        steps_paged, at = tick.steps_active, tick.next_page_at
    return pages


def test_urgent_pages_at_once_repeats_every_5_minutes_backup_at_5_on_call_at_20():
    plan = plan_for(Severity.URGENT, Reason.SOS, CLINICAL_DEFAULTS)
    assert walk(plan, 20) == [
        (0, ["prescriber"]),
        (5, ["prescriber", "backup"]),
        (10, ["prescriber", "backup"]),
        (15, ["prescriber", "backup"]),
        (20, ["prescriber", "backup", "on_call"]),
    ]


def test_high_brings_in_the_backup_at_10_minutes():
    plan = plan_for(Severity.HIGH, Reason.MISSED_RELEASE, CLINICAL_DEFAULTS)
    assert walk(plan, 10) == [(0, ["prescriber"]), (5, ["prescriber"]), (10, ["prescriber", "backup"])]


def test_moderate_pages_the_prescriber_then_the_backup_at_30_minutes():
    plan = plan_for(Severity.MODERATE, Reason.PRE_DOSE_HOLD, CLINICAL_DEFAULTS)
    assert walk(plan, 120) == [(0, ["prescriber"]), (30, ["backup"])]


def test_the_backup_is_not_paged_a_moment_before_30_minutes():
    plan = plan_for(Severity.MODERATE, Reason.PRE_DOSE_HOLD, CLINICAL_DEFAULTS)
    assert targets_paged(plan, 29.99, steps_paged=1) == []
    assert targets_paged(plan, 30, steps_paged=1) == [Target.BACKUP]


def test_low_never_pages():
    plan = plan_for(Severity.LOW, Reason.ADVERSE_FINDING, CLINICAL_DEFAULTS)
    assert plan.steps == () and walk(plan, 600) == []


@pytest.mark.parametrize("severity", [Severity.URGENT, Severity.HIGH, Severity.MODERATE])
def test_compliance_escalations_page_compliance_staff_not_prescribers(severity):
    plan = plan_for(severity, Reason.SHIPMENT_LOST, CLINICAL_DEFAULTS)
    assert {t for step in plan.steps for t in step.add} == {Target.COMPLIANCE}


def test_a_scheduler_back_after_an_hour_pages_once_not_once_per_missed_slot():
    plan = plan_for(Severity.URGENT, Reason.SOS, CLINICAL_DEFAULTS)
    tick = plan_tick(plan, T0, T0 + timedelta(minutes=62), steps_paged=1)
    assert [t for i in tick.page_steps for t in plan.steps[i].add] == [Target.PRESCRIBER, Target.BACKUP,
                                                                       Target.ON_CALL]
    assert tick.next_page_at == T0 + timedelta(minutes=65)


def test_a_forced_step_is_paged_before_its_time():
    plan = plan_for(Severity.MODERATE, Reason.PRE_DOSE_HOLD, CLINICAL_DEFAULTS)
    assert targets_paged(plan, 1, steps_paged=1, forced=2) == [Target.BACKUP]


def test_the_plan_survives_its_json_snapshot():
    plan = plan_for(Severity.URGENT, Reason.SOS, {**CLINICAL_DEFAULTS, "ESCALATION_URGENT_REPEAT_MINUTES": 0.05})
    assert PagingPlan.from_json(plan.to_json()) == plan
    assert plan.repeat == timedelta(seconds=3)


@pytest.mark.parametrize("now,expected", [(time(21, 59), False), (time(22, 0), True), (time(3, 0), True),
                                          (time(6, 59), True), (time(7, 0), False)])
def test_on_call_hours_may_cross_midnight(now, expected):
    assert is_on_call(True, time(22, 0), time(7, 0), now) is expected


def test_on_call_without_hours_is_always_on_call_and_unflagged_never():
    assert is_on_call(True, None, None, time(12, 0)) and not is_on_call(False, None, None, time(12, 0))


def test_who_may_act_on_an_escalation():
    team = (1, 2)
    assert may_act("prescriber", 1, care_team=team, paged=set(), compliance=False)
    assert may_act("prescriber", 2, care_team=team, paged=set(), compliance=False)  # the backup
    assert not may_act("prescriber", 3, care_team=team, paged=set(), compliance=False)
    assert may_act("prescriber", 3, care_team=team, paged={3}, compliance=False)  # paged while on call
    assert not may_act("prescriber", 1, care_team=team, paged=set(), compliance=True)
    assert may_act("compliance", 9, care_team=team, paged=set(), compliance=True)
    assert not may_act("compliance", 9, care_team=team, paged=set(), compliance=False)
    assert not may_act("patient", 1, care_team=team, paged={1}, compliance=False)
    assert may_read("compliance", 9, care_team=team, paged=set())


@pytest.mark.parametrize("note,outcome", [("reached patient, resting", Outcome.REACHED_PATIENT),
                                          ("911 called", Outcome.EMERGENCY_SERVICES),
                                          ("Rescheduled to Friday", Outcome.DOSE_RESCHEDULED),
                                          ("no action needed", Outcome.NO_ACTION_NEEDED),
                                          ("left a voicemail", Outcome.OTHER)])
def test_an_sms_resolution_reads_its_outcome_from_the_note(note, outcome):
    assert outcome_from_note(note) is outcome
