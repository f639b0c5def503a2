"""Escalations through the database: opening, the paging tick, acknowledgement, failures (SPEC §5)."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role
from telehealth.actor import Actor
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.escalations import operations
from telehealth.escalations.jobs import advance_escalations
from telehealth.escalations.models import Escalation, EscalationEvent, EventKind
from telehealth.escalations.operations import EscalationSettings
from telehealth.escalations.rules import Outcome, Reason, Severity, State
from telehealth.jobs.runner import JobContext
from telehealth.messaging.models import Message, MessageStatus

SYSTEM = Actor.system("test")


@pytest.fixture
def team(make, session):
    prescriber = make.user(Role.PRESCRIBER, name="Dana Prescriber")
    backup = make.user(Role.PRESCRIBER, name="Eli Backup")
    on_call = make.user(Role.PRESCRIBER, name="Fay Oncall")
    on_call.on_call = True
    session.commit()
    patient = make.patient(prescriber, backup, name="Gale Harper")
    return prescriber, backup, on_call, patient


@pytest.fixture
def settings(app):
    return EscalationSettings.from_config(app.config)


@pytest.fixture
def job(app, connection):
    with app.app_context():
        yield JobContext(app)


def raise_(session, settings, patient, severity=Severity.URGENT, reason=Reason.SOS, **kwargs):
    escalation = operations.raise_escalation(session, SYSTEM, settings, patient_id=patient.id, reason=reason,
                                             severity=severity, **kwargs)
    session.commit()
    return escalation


def pages(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(Message.to_phone).where(Message.owner_type == "escalation")
                                .order_by(Message.id)))


def tick_at(job, clock, minutes_from_start, start):
    clock.set(start + timedelta(minutes=minutes_from_start))
    return advance_escalations(job)


def test_urgent_pages_the_prescriber_at_once(session, settings, team):
    prescriber, *_, patient = team
    escalation = raise_(session, settings, patient)
    assert pages(session) == [prescriber.phone]
    assert escalation.state is State.OPEN and escalation.next_page_at is not None


def test_the_page_carries_the_minimum_necessary(session, settings, team):
    *_, patient = team
    escalation = raise_(session, settings, patient, dose_number=3)
    body = session.scalar(sa.select(Message.body).where(Message.owner_type == "escalation"))
    assert body == (f"Lakeside Clinic: Alert {escalation.id} URGENT: SOS received. Patient GH, session 3. "
                    f"Reply ACK {escalation.id} to acknowledge.")
    assert "Gale" not in body and "Harper" not in body


def test_urgent_repages_every_5_minutes_adds_the_backup_at_5_and_on_call_at_20(session, settings, team, job, clock):
    prescriber, backup, on_call, patient = team
    start = clock.now()
    raise_(session, settings, patient)
    tick_at(job, clock, 4.99, start)
    assert pages(session) == [prescriber.phone]
    tick_at(job, clock, 5, start)
    assert pages(session)[1:] == [prescriber.phone, backup.phone]
    tick_at(job, clock, 10, start)
    tick_at(job, clock, 15, start)
    assert len(pages(session)) == 7 and on_call.phone not in pages(session)
    tick_at(job, clock, 20, start)
    assert pages(session)[7:] == [prescriber.phone, backup.phone, on_call.phone]


def test_a_tick_between_slots_pages_nobody(session, settings, team, job, clock):
    *_, patient = team
    start = clock.now()
    raise_(session, settings, patient)
    assert tick_at(job, clock, 2, start) == {}
    assert len(pages(session)) == 1


def test_moderate_pages_the_prescriber_and_the_backup_at_30(session, settings, team, job, clock):
    prescriber, backup, _, patient = team
    start = clock.now()
    raise_(session, settings, patient, Severity.MODERATE, Reason.PRE_DOSE_HOLD)
    for minute in (5, 10, 29):
        tick_at(job, clock, minute, start)
    assert pages(session) == [prescriber.phone]
    tick_at(job, clock, 30, start)
    tick_at(job, clock, 90, start)
    assert pages(session) == [prescriber.phone, backup.phone]


def test_low_never_pages(session, settings, team, job, clock):
    *_, patient = team
    start = clock.now()
    escalation = raise_(session, settings, patient, Severity.LOW, Reason.ADVERSE_FINDING)
    tick_at(job, clock, 600, start)
    assert pages(session) == [] and escalation.next_page_at is None


def test_compliance_escalations_page_compliance_staff(session, settings, team, make):
    *_, patient = team
    officer = make.user(Role.COMPLIANCE, phone="+12015550177")
    raise_(session, settings, patient, Severity.URGENT, Reason.SHIPMENT_LOST)
    assert pages(session) == [officer.phone]


def test_an_acknowledgement_stops_all_further_pages(session, settings, team, job, clock):
    prescriber, *_, patient = team
    start = clock.now()
    escalation = raise_(session, settings, patient)
    operations.acknowledge(session, Actor.for_user(prescriber), escalation.id, channel="web")
    session.commit()
    for minute in (5, 10, 20, 60):
        tick_at(job, clock, minute, start)
    assert len(pages(session)) == 1
    assert escalation.state is State.ACKNOWLEDGED and escalation.next_page_at is None


def test_acknowledging_cancels_pages_still_queued(session, settings, team):
    prescriber, *_, patient = team
    escalation = raise_(session, settings, patient)
    operations.acknowledge(session, Actor.for_user(prescriber), escalation.id, channel="web")
    session.commit()
    session.expire_all()
    assert session.scalar(sa.select(Message.status).where(Message.owner_type == "escalation")) \
        is MessageStatus.CANCELLED


def test_a_failed_page_moves_to_the_next_step_at_once(app, session, settings, team, job, clock):
    prescriber, backup, _, patient = team
    escalation = raise_(session, settings, patient, Severity.MODERATE, Reason.PRE_DOSE_HOLD)
    from telehealth.messaging import dispatcher
    page = session.scalar(sa.select(Message).where(Message.owner_type == "escalation"))
    page.error_code = 21211
    dispatcher.fail_permanently(session, page)
    session.commit()
    clock.advance(seconds=1)
    advance_escalations(job)
    assert pages(session) == [prescriber.phone, backup.phone]  # the backup now, not at 30 minutes
    kinds = [e.kind for e in session.scalars(sa.select(EscalationEvent).where(
        EscalationEvent.escalation_id == escalation.id).order_by(EscalationEvent.id))]
    assert kinds == [EventKind.TRIGGERED, EventKind.PAGED, EventKind.PAGE_FAILED, EventKind.PAGED]


def test_a_repeat_trigger_joins_the_open_escalation_without_paging(session, settings, team):
    *_, patient = team
    first = raise_(session, settings, patient)
    second = raise_(session, settings, patient)
    assert second.id == first.id and second.trigger_count == 2
    assert len(pages(session)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1


def test_a_rising_severity_pages_again(session, settings, team):
    prescriber, *_, patient = team
    first = raise_(session, settings, patient, Severity.MODERATE, Reason.ADVERSE_FINDING)
    raised = raise_(session, settings, patient, Severity.URGENT, Reason.ADVERSE_FINDING)
    assert raised.id == first.id and raised.severity is Severity.URGENT
    assert pages(session) == [prescriber.phone, prescriber.phone]


def test_after_resolution_a_new_trigger_opens_a_new_escalation(session, settings, team):
    prescriber, *_, patient = team
    first = raise_(session, settings, patient)
    operations.resolve(session, Actor.for_user(prescriber), first.id, outcome="reached_patient",
                       note="Spoke with patient, safe at home.", channel="web")
    session.commit()
    second = raise_(session, settings, patient)
    assert second.id != first.id


def test_a_separate_reason_is_a_separate_escalation(session, settings, team):
    *_, patient = team
    assert raise_(session, settings, patient).id != raise_(session, settings, patient,
                                                           reason=Reason.CRISIS_PHRASE).id


def test_resolving_needs_an_outcome_and_a_note_and_changes_nothing_without(session, settings, team):
    prescriber, *_, patient = team
    escalation = raise_(session, settings, patient)
    with pytest.raises(RuleViolation) as caught:
        operations.resolve(session, Actor.for_user(prescriber), escalation.id, outcome="shrug", note="  ",
                           channel="web")
    assert set(caught.value.errors) == {"outcome", "note"}
    session.rollback()
    assert session.get(Escalation, escalation.id).state is State.OPEN


def test_an_already_resolved_escalation_cannot_be_acknowledged_or_resolved(session, settings, team):
    prescriber, *_, patient = team
    escalation = raise_(session, settings, patient)
    me = Actor.for_user(prescriber)
    operations.resolve(session, me, escalation.id, outcome=Outcome.NO_ACTION_NEEDED, note="False alarm.",
                       channel="web")
    session.commit()
    with pytest.raises(Conflict):
        operations.acknowledge(session, me, escalation.id, channel="sms")
    with pytest.raises(Conflict):
        operations.resolve(session, me, escalation.id, outcome="other", note="again", channel="sms")


def test_another_prescriber_may_not_acknowledge_unless_paged(session, settings, team, make, job, clock):
    _, _, on_call, patient = team
    stranger = make.user(Role.PRESCRIBER)
    start = clock.now()
    escalation = raise_(session, settings, patient)
    with pytest.raises(NotAllowed) as caught:
        operations.acknowledge(session, Actor.for_user(stranger), escalation.id, channel="sms")
    assert caught.value.hide_existence
    with pytest.raises(NotAllowed):
        operations.acknowledge(session, Actor.for_user(on_call), escalation.id, channel="sms")
    session.rollback()
    tick_at(job, clock, 20, start)  # now the on-call prescriber is paged, and may acknowledge
    operations.acknowledge(session, Actor.for_user(on_call), escalation.id, channel="sms")


def test_an_unknown_escalation_is_not_found(session, team):
    prescriber, *_ = team
    with pytest.raises(NotFound):
        operations.acknowledge(session, Actor.for_user(prescriber), 424242, channel="sms")


def test_every_step_is_in_the_audit_table(session, settings, team):
    from telehealth.audit.models import AuditEvent
    prescriber, *_, patient = team
    escalation = raise_(session, settings, patient)
    operations.acknowledge(session, Actor.for_user(prescriber), escalation.id, channel="web")
    operations.resolve(session, Actor.for_user(prescriber), escalation.id, outcome="reached_patient",
                       note="Called back.", channel="web")
    session.commit()
    actions = list(session.scalars(sa.select(AuditEvent.action).where(
        AuditEvent.object_type == "escalation", AuditEvent.object_id == str(escalation.id))
        .order_by(AuditEvent.id)))
    assert actions == ["escalation.opened", "escalation.paged", "escalation.acknowledged", "escalation.resolved"]
