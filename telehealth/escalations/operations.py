"""The verbs of escalations: raise, advance paging one tick, acknowledge, resolve, list, read."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.accounts.models import Patient, Role, User
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.errors import Conflict, NotAllowed, NotFound, RuleViolation
from telehealth.escalations import rules
from telehealth.escalations.models import Escalation, EscalationEvent, EventKind
from telehealth.escalations.rules import Outcome, PagingPlan, Reason, Severity, State, Target
from telehealth.messaging import outbox, templates
from telehealth.messaging.models import Message, MessageStatus

OWNER = "escalation"  # messages owned by an escalation: its pages
TICK = Actor.system("escalation paging")


@dataclass(frozen=True)
class EscalationSettings:
    clinic: str
    clinic_timezone: str
    policy: Mapping[str, Any]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "EscalationSettings":
        return cls(clinic=config["CLINIC_NAME"], clinic_timezone=config["DEFAULT_TIMEZONE"], policy=config)


def _event(session: Session, escalation: Escalation, kind: EventKind, *, actor: Actor | None = None,
           recipient: User | None = None, message: Message | None = None, **details: Any) -> EscalationEvent:
    event = EscalationEvent(escalation_id=escalation.id, at=clock.now(), kind=kind,
                            actor_user_id=actor.user_id if actor else None,
                            recipient_user_id=recipient.id if recipient else None,
                            message_id=message.id if message else None, details=details)
    session.add(event)
    return event


def _audit(session: Session, actor: Actor, action: AuditAction, escalation: Escalation, **details: Any) -> None:
    record(session, actor, action, object_type="escalation", object_id=escalation.id,
           patient_id=escalation.patient_id, details=details)


def open_key(patient_id: int, session_id: int | None, reason: Reason) -> str:
    return f"{patient_id}:{session_id if session_id is not None else '-'}:{reason.value}"


# --- raising -----------------------------------------------------------------------------

def raise_escalation(session: Session, actor: Actor, settings: EscalationSettings, *, patient_id: int,
                     reason: Reason, severity: Severity, session_id: int | None = None,
                     dose_number: int | None = None, page_again: bool = False, **details: Any) -> Escalation:
    """Open an escalation and page its first step at once; a repeat trigger of an open one is
    added to its timeline and not paged again, unless its severity rises. One acknowledged already
    pages afresh when it is urgent or high, or when `page_again` says the trigger is news."""
    key = open_key(patient_id, session_id, reason)
    existing = session.scalar(sa.select(Escalation).where(Escalation.open_key == key).with_for_update())
    if existing is None:
        try:
            with session.begin_nested():  # a concurrent twin may win the unique key
                return _open(session, actor, settings, key, patient_id=patient_id, reason=reason, severity=severity,
                             session_id=session_id, dose_number=dose_number, details=details)
        except IntegrityError:
            existing = session.scalar(sa.select(Escalation).where(Escalation.open_key == key).with_for_update())
            if existing is None:
                raise
    return _retrigger(session, actor, settings, existing, severity, details, page_again=page_again)


def _open(session: Session, actor: Actor, settings: EscalationSettings, key: str, *, patient_id: int,
          reason: Reason, severity: Severity, session_id: int | None, dose_number: int | None,
          details: dict[str, Any]) -> Escalation:
    now = clock.now()
    plan = rules.plan_for(severity, reason, settings.policy)
    escalation = Escalation(reason=reason, severity=severity, state=State.OPEN, patient_id=patient_id,
                            session_id=session_id, dose_number=dose_number, open_key=key, opened_at=now,
                            trigger_count=1, paging_plan=plan.to_json(), paging_started_at=now, steps_paged=0,
                            steps_forced=0, next_page_at=now if plan.steps else None)
    session.add(escalation)
    session.flush()
    _event(session, escalation, EventKind.TRIGGERED, actor=actor, severity=severity.value, **details)
    _audit(session, actor, AuditAction.ESCALATION_OPENED, escalation, reason=reason.value, severity=severity.value)
    _page_due(session, settings, escalation, now)
    return escalation


def _retrigger(session: Session, actor: Actor, settings: EscalationSettings, escalation: Escalation,
               severity: Severity, details: dict[str, Any], *, page_again: bool = False) -> Escalation:
    escalation.trigger_count += 1
    rises = severity.rank > escalation.severity.rank
    # A new trigger on an acknowledged urgent or high alert is a new emergency (a second SOS days
    # later, another check unanswered): it pages again. So does any that `page_again` says is news.
    news = page_again or escalation.severity in (Severity.URGENT, Severity.HIGH)
    reopens = news and not rises and escalation.state is State.ACKNOWLEDGED
    if not rises and not reopens:
        _event(session, escalation, EventKind.RETRIGGERED, actor=actor, **details)
        _audit(session, actor, AuditAction.ESCALATION_RETRIGGERED, escalation)
        return escalation
    # More severe now, or news after it was acknowledged: its policy starts paging afresh.
    now = clock.now()
    previous = escalation.severity
    if rises:
        escalation.severity = severity
    plan = rules.plan_for(escalation.severity, escalation.reason, settings.policy)
    escalation.state = State.OPEN
    escalation.paging_plan, escalation.paging_started_at = plan.to_json(), now
    escalation.steps_paged = escalation.steps_forced = 0
    escalation.next_page_at = now if plan.steps else None
    if rises:
        _event(session, escalation, EventKind.SEVERITY_RAISED, actor=actor, previous=previous.value,
               severity=severity.value, **details)
        _audit(session, actor, AuditAction.ESCALATION_SEVERITY_RAISED, escalation, previous=previous.value,
               severity=severity.value)
    else:
        _event(session, escalation, EventKind.RETRIGGERED, actor=actor, reopened=True, **details)
        _audit(session, actor, AuditAction.ESCALATION_RETRIGGERED, escalation, reopened=True)
    _page_due(session, settings, escalation, now)
    return escalation


# --- paging ------------------------------------------------------------------------------

def due_escalation_ids(session: Session, limit: int = 100) -> list[int]:
    return list(session.scalars(sa.select(Escalation.id).where(
        Escalation.state == State.OPEN, Escalation.next_page_at <= clock.now())
        .order_by(Escalation.next_page_at).limit(limit)))


def advance_escalation(session: Session, settings: EscalationSettings, escalation_id: int) -> int:
    """One paging tick for one escalation, under its row lock. Re-checks under the lock that it is
    still open and due, so two ticks racing, or a tick racing an acknowledgement, never page twice
    and never page after an acknowledgement. Returns the number of pages enqueued."""
    now = clock.now()
    query = sa.select(Escalation).where(Escalation.id == escalation_id, Escalation.state == State.OPEN,
                                        Escalation.next_page_at <= now)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # another tick has it: leave it to that one
    escalation = session.scalar(query)
    return 0 if escalation is None else _page_due(session, settings, escalation, now)


def _page_due(session: Session, settings: EscalationSettings, escalation: Escalation, now: datetime) -> int:
    plan = PagingPlan.from_json(escalation.paging_plan)
    tick = rules.plan_tick(plan, escalation.paging_started_at, now, steps_paged=escalation.steps_paged,
                           forced=escalation.steps_forced)
    targets = [target for index in tick.page_steps for target in plan.steps[index].add]
    recipients = _recipients(session, settings, escalation, targets, now)
    sms = templates.page(settings.clinic, number=escalation.id, severity=escalation.severity.value,
                         reason=escalation.reason.label, initials=escalation.patient.user.initials,
                         dose_number=escalation.dose_number)
    for user in recipients:
        message = outbox.enqueue(session, to=user.phone, sms=sms, owner_type=OWNER, owner_id=escalation.id,
                                 patient_id=escalation.patient_id)
        _event(session, escalation, EventKind.PAGED, recipient=user, message=message)
        _audit(session, TICK, AuditAction.ESCALATION_PAGED, escalation, recipient_user_id=user.id,
               message_id=message.id)
    if targets and not recipients:
        _event(session, escalation, EventKind.NOBODY_TO_PAGE, targets=[t.value for t in targets])
        _audit(session, TICK, AuditAction.ESCALATION_NOBODY_TO_PAGE, escalation, targets=[t.value for t in targets])
    escalation.steps_paged, escalation.next_page_at = tick.steps_active, tick.next_page_at
    return len(recipients)


def _recipients(session: Session, settings: EscalationSettings, escalation: Escalation, targets: list[Target],
                now: datetime) -> list[User]:
    patient = escalation.patient
    found: dict[int, User] = {}
    for target in targets:
        if target is Target.PRESCRIBER:
            candidates = [patient.prescriber]
        elif target is Target.BACKUP:
            candidates = [patient.backup_prescriber] if patient.backup_prescriber else []
        elif target is Target.ON_CALL:
            local = now.astimezone(ZoneInfo(settings.clinic_timezone)).time()
            candidates = [u for u in session.scalars(sa.select(User).where(User.role == Role.PRESCRIBER,
                                                                            User.on_call.is_(True)))
                          if rules.is_on_call(u.on_call, u.on_call_from, u.on_call_until, local)]
        else:
            candidates = list(session.scalars(sa.select(User).where(User.role == Role.COMPLIANCE)))
        for user in candidates:
            if user.active and user.phone:
                found.setdefault(user.id, user)
    return list(found.values())


def page_failed(session: Session, message: Message) -> None:
    """A page failed for good (invalid number, opted out, undeliverable): page the next step at
    once, on the next tick, rather than waiting for its time."""
    escalation = session.get(Escalation, message.owner_id, with_for_update=True)
    if escalation is None or escalation.state is not State.OPEN:
        return
    plan = PagingPlan.from_json(escalation.paging_plan)
    now = clock.now()
    escalation.steps_forced = rules.force_next_step(plan, escalation.paging_started_at, now,
                                                    escalation.steps_forced)
    escalation.next_page_at = now
    paged = session.scalar(sa.select(EscalationEvent).where(EscalationEvent.message_id == message.id))
    _event(session, escalation, EventKind.PAGE_FAILED, recipient=paged.recipient if paged else None,
           message=message, error_code=message.error_code)
    _audit(session, TICK, AuditAction.ESCALATION_PAGE_FAILED, escalation, message_id=message.id,
           error_code=message.error_code)


def page_still_wanted(session: Session, message: Message) -> bool:
    """A queued page is not sent once its escalation is acknowledged or resolved."""
    escalation = session.get(Escalation, message.owner_id)
    return escalation is not None and escalation.state is State.OPEN


# --- acknowledging and resolving ---------------------------------------------------------

def _care_team(escalation: Escalation) -> tuple[int | None, ...]:
    return (escalation.patient.prescriber_id, escalation.patient.backup_prescriber_id)


def paged_user_ids(session: Session, escalation_id: int) -> set[int]:
    return set(session.scalars(sa.select(EscalationEvent.recipient_user_id).where(
        EscalationEvent.escalation_id == escalation_id, EscalationEvent.kind == EventKind.PAGED)))


def may_act_on(session: Session, actor: Actor, escalation: Escalation) -> bool:
    """May this actor acknowledge and resolve it (so a page shows them the forms)?"""
    return rules.may_act(actor.role, actor.user_id, care_team=_care_team(escalation),
                         paged=paged_user_ids(session, escalation.id), compliance=escalation.is_compliance)


def _for_action(session: Session, actor: Actor, escalation_id: int) -> Escalation:
    escalation = session.get(Escalation, escalation_id, with_for_update=True)
    if escalation is None:
        raise NotFound(f"No alert {escalation_id}.")
    if not may_act_on(session, actor, escalation):
        readable = rules.may_read(actor.role, actor.user_id, care_team=_care_team(escalation),
                                  paged=paged_user_ids(session, escalation.id))
        raise NotAllowed(f"Alert {escalation_id} is not yours to act on.", object_type="escalation",
                         object_id=escalation_id, patient_id=escalation.patient_id, hide_existence=not readable)
    return escalation


def _stop_paging(session: Session, escalation: Escalation) -> None:
    escalation.next_page_at = None
    session.execute(sa.update(Message).where(
        Message.owner_type == OWNER, Message.owner_id == escalation.id, Message.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED, next_attempt_at=None, updated_at=clock.now(),
                last_error="escalation no longer open"))


def acknowledge(session: Session, actor: Actor, escalation_id: int, *, channel: str) -> Escalation:
    escalation = _for_action(session, actor, escalation_id)
    if escalation.state is State.RESOLVED:
        raise Conflict(f"Alert {escalation_id} is already resolved.")
    if escalation.state is State.ACKNOWLEDGED:
        raise Conflict(f"Alert {escalation_id} was already acknowledged.")
    now = clock.now()
    escalation.state, escalation.acknowledged_at, escalation.acknowledged_by_id = State.ACKNOWLEDGED, now, actor.user_id
    _stop_paging(session, escalation)
    _event(session, escalation, EventKind.ACKNOWLEDGED, actor=actor, channel=channel)
    _audit(session, actor, AuditAction.ESCALATION_ACKNOWLEDGED, escalation, channel=channel)
    return escalation


# Reason -> a check that says why an escalation of that reason cannot be resolved yet (None: it
# can). Rooms register theirs at app start (`app.init_rooms`): a lost shipment stays open until
# the pharmacy's DEA filings are recorded.
ResolutionGuard = Callable[[Session, Escalation], "str | None"]
RESOLUTION_GUARDS: dict[Reason, ResolutionGuard] = {}


def register_resolution_guard(reason: Reason, guard: ResolutionGuard) -> None:
    RESOLUTION_GUARDS[reason] = guard


def resolve(session: Session, actor: Actor, escalation_id: int, *, outcome: Outcome | str, note: str,
            channel: str) -> Escalation:
    escalation = _for_action(session, actor, escalation_id)  # unknown or not yours: 404/403 before input errors
    errors: dict[str, list[str]] = {}
    try:
        outcome = Outcome(outcome)
    except ValueError:
        errors["outcome"] = ["Choose one of: " + ", ".join(o.value for o in Outcome) + "."]
    note = (note or "").strip()
    if not note:
        errors["note"] = ["Say what happened: a resolution needs a note."]
    elif len(note) > 2000:
        errors["note"] = ["Keep the note under 2000 characters."]
    if errors:
        raise RuleViolation("The alert was not resolved.", errors)
    if escalation.state is State.RESOLVED:
        raise Conflict(f"Alert {escalation_id} is already resolved.")
    guard = RESOLUTION_GUARDS.get(escalation.reason)
    problem = guard(session, escalation) if guard else None
    if problem:
        raise RuleViolation(problem)
    now = clock.now()
    if escalation.state is State.OPEN:  # resolving implies acknowledging
        escalation.acknowledged_at, escalation.acknowledged_by_id = now, actor.user_id
    escalation.state, escalation.resolved_at, escalation.resolved_by_id = State.RESOLVED, now, actor.user_id
    escalation.outcome, escalation.resolution_note, escalation.open_key = outcome, note, None
    _stop_paging(session, escalation)
    _event(session, escalation, EventKind.RESOLVED, actor=actor, channel=channel, outcome=outcome.value)
    _audit(session, actor, AuditAction.ESCALATION_RESOLVED, escalation, channel=channel, outcome=outcome.value)
    return escalation


def open_pages_for(session: Session, user_id: int) -> list[int]:
    """Open escalations this person was paged for: what a bare `ACK` refers to."""
    return list(session.scalars(sa.select(Escalation.id).where(
        Escalation.state == State.OPEN,
        Escalation.id.in_(sa.select(EscalationEvent.escalation_id).where(
            EscalationEvent.kind == EventKind.PAGED, EscalationEvent.recipient_user_id == user_id)))
        .order_by(Escalation.id)))


# --- reading -----------------------------------------------------------------------------

SEVERITY_ORDER = sa.case({s.value: -s.rank for s in Severity}, value=Escalation.severity)
STATE_ORDER = sa.case({State.OPEN.value: 0, State.ACKNOWLEDGED.value: 1, State.RESOLVED.value: 2},
                      value=Escalation.state)


def list_escalations(session: Session, actor: Actor, *, states: list[State] | None = None,
                     severity: Severity | None = None, patient_id: int | None = None,
                     reason: Reason | None = None, limit: int = 200) -> list[Escalation]:
    """The queue: unacknowledged first, then acknowledged; urgent first; oldest first."""
    query = sa.select(Escalation).join(Escalation.patient)
    if actor.role == "prescriber":
        query = query.where(sa.or_(
            Patient.prescriber_id == actor.user_id, Patient.backup_prescriber_id == actor.user_id,
            Escalation.id.in_(sa.select(EscalationEvent.escalation_id).where(
                EscalationEvent.kind == EventKind.PAGED, EscalationEvent.recipient_user_id == actor.user_id))))
    elif actor.role != "compliance":
        raise NotAllowed("Only prescribers and compliance staff see escalations.", object_type="escalation")
    if states:
        query = query.where(Escalation.state.in_(states))
    if severity:
        query = query.where(Escalation.severity == severity)
    if patient_id is not None:
        query = query.where(Escalation.patient_id == patient_id)
    if reason:
        query = query.where(Escalation.reason == reason)
    escalations = list(session.scalars(query.order_by(STATE_ORDER, SEVERITY_ORDER, Escalation.opened_at,
                                                      Escalation.id).limit(limit)))
    record(session, actor, AuditAction.ESCALATION_LIST_READ, object_type="escalation", patient_id=patient_id,
           details={"escalation_ids": [e.id for e in escalations]})
    return escalations


def read_escalation(session: Session, actor: Actor, escalation_id: int) -> Escalation:
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        raise NotFound(f"No alert {escalation_id}.")
    if not rules.may_read(actor.role, actor.user_id, care_team=_care_team(escalation),
                          paged=paged_user_ids(session, escalation.id)):
        raise NotAllowed("This alert is not in your care.", object_type="escalation", object_id=escalation_id,
                         patient_id=escalation.patient_id, hide_existence=True)
    _audit(session, actor, AuditAction.ESCALATION_READ, escalation)
    return escalation
