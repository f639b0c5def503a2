"""The dispatcher's operations: claim due messages, then record what the provider said.

Sending happens between two transactions: a row is claimed (status `sending`, under a lease) and
committed, the provider is called with no transaction open, then the outcome is recorded. A
dispatcher that dies in between loses nothing: when the lease runs out the row is claimable again.
Several dispatchers may run at once: on PostgreSQL rows are claimed `FOR UPDATE SKIP LOCKED`; on
SQLite every transaction begins IMMEDIATE, so claims are serialised.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit.models import AuditAction
from telehealth.audit.operations import record
from telehealth.messaging import consent
from telehealth.messaging.backends import SendError, SendResult
from telehealth.messaging.hooks import report_permanent_failure, still_wanted
from telehealth.messaging.models import Direction, Message, MessageStatus

log = logging.getLogger(__name__)

# Twilio's "this number has opted out" error: the number is marked opted out here too.
OPTED_OUT_ERROR = 21610
DISPATCHER = Actor.system("sms dispatcher")


@dataclass(frozen=True)
class DispatchPolicy:
    max_attempts: int
    retry_base: timedelta
    retry_max: timedelta
    lease: timedelta
    batch_size: int
    status_callback_url: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DispatchPolicy":
        base = str(config.get("PUBLIC_BASE_URL") or "").rstrip("/")
        return cls(max_attempts=config["SMS_MAX_ATTEMPTS"],
                   retry_base=timedelta(seconds=config["SMS_RETRY_BASE_SECONDS"]),
                   retry_max=timedelta(seconds=config["SMS_RETRY_MAX_SECONDS"]),
                   lease=timedelta(seconds=config["SMS_LEASE_SECONDS"]),
                   batch_size=config["SMS_DISPATCH_BATCH"],
                   status_callback_url=f"{base}/twilio/status" if base else None)

    def backoff(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff with full jitter: a random wait up to base * 2^(attempts-1), capped."""
        ceiling = min(self.retry_max, self.retry_base * (2 ** max(0, attempts - 1)))
        return timedelta(seconds=rng.uniform(self.retry_base.total_seconds() / 2, ceiling.total_seconds()))


@dataclass(frozen=True)
class Claimed:
    """What the sender needs, copied out of the claiming transaction."""

    id: int
    to: str
    body: str
    lease_until: Any


def claim_due(session: Session, policy: DispatchPolicy, limit: int | None = None) -> list[Claimed]:
    """Claim due outbound messages: queued ones whose time has come, and sending ones whose
    dispatcher's lease ran out. A message waits while an earlier one to the same recipient is
    still queued or sending, so each recipient gets their messages in order."""
    now = clock.now()
    earlier = aliased(Message)
    due = sa.or_(sa.and_(Message.status == MessageStatus.QUEUED, Message.next_attempt_at <= now),
                 sa.and_(Message.status == MessageStatus.SENDING, Message.lease_until <= now))
    earlier_pending = sa.exists().where(
        earlier.to_phone == Message.to_phone, earlier.id < Message.id, earlier.direction == Direction.OUTBOUND,
        earlier.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]))
    query = (sa.select(Message).where(Message.direction == Direction.OUTBOUND, due, ~earlier_pending)
             .order_by(Message.id).limit(limit or policy.batch_size))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Message)
    claimed = []
    lease_until = now + policy.lease
    for message in session.scalars(query):
        message.status, message.lease_until, message.updated_at = MessageStatus.SENDING, lease_until, now
        message.attempts += 1
        claimed.append(Claimed(message.id, message.to_phone, message.body, lease_until))
    session.flush()
    return claimed


def _still_ours(session: Session, claimed: Claimed) -> Message | None:
    """The row, if this dispatcher's lease on it still holds (another may have taken it over)."""
    message = session.get(Message, claimed.id, with_for_update=True)
    if message is None or message.status is not MessageStatus.SENDING or message.lease_until != claimed.lease_until:
        log.warning("message %s changed hands while it was being sent", claimed.id)
        return None
    return message


def record_sent(session: Session, claimed: Claimed, result: SendResult) -> None:
    message = _still_ours(session, claimed)
    if message is None:
        return
    now = clock.now()
    message.status, message.provider_sid, message.provider_status = MessageStatus.SENT, result.sid, result.provider_status
    message.sent_at = message.updated_at = now
    message.lease_until = message.next_attempt_at = None
    message.last_error = message.error_code = None
    # Metadata only, from the row already in hand (no extra read): the recipient is named by the
    # owning room's audit event (an escalation's page names the prescriber paged with this message id).
    record(session, DISPATCHER, AuditAction.SMS_SENT, object_type="message", object_id=message.id,
           patient_id=message.patient_id,
           details={"via": "dispatcher", "sid": result.sid, "status": result.provider_status,
                    "template": message.template, "attempts": message.attempts,
                    "owner_type": message.owner_type, "owner_id": message.owner_id})


def record_send_error(session: Session, claimed: Claimed, error: SendError, policy: DispatchPolicy,
                      rng: random.Random) -> str:
    """Retry a transient error with backoff until the attempts run out; fail a permanent one.
    Returns "retry" or "failed"."""
    message = _still_ours(session, claimed)
    if message is None:
        return "lost"
    now = clock.now()
    message.error_code, message.last_error = error.code, str(error.message)[:200]
    message.lease_until, message.updated_at = None, now
    if error.transient and message.attempts < policy.max_attempts:
        message.status = MessageStatus.QUEUED
        message.next_attempt_at = now + policy.backoff(message.attempts, rng)
        return "retry"
    fail_permanently(session, message)
    return "failed"


def fail_permanently(session: Session, message: Message, status: MessageStatus = MessageStatus.FAILED,
                     actor: Actor = DISPATCHER) -> None:
    """Final failure (failed, or undelivered by the carrier): the owning room must move on."""
    message.status, message.next_attempt_at, message.updated_at = status, None, clock.now()
    if message.error_code == OPTED_OUT_ERROR:
        consent.set_opted_out(session, actor, message.to_phone, True, f"carrier error {OPTED_OUT_ERROR}")
    record(session, actor, AuditAction.SMS_FAILED, object_type="message", object_id=message.id,
           patient_id=message.patient_id, details={"error_code": message.error_code, "template": message.template,
                                                   "status": status.value})
    report_permanent_failure(session, message)


def refuse_if_unwanted(session: Session, claimed: Claimed) -> bool:
    """Last look before the network call. Nothing goes to a number that opted out (the message
    fails without a call), and nothing its owner no longer wants (it is cancelled)."""
    opted_out = consent.is_opted_out(session, claimed.to)
    message = session.get(Message, claimed.id)
    if not opted_out and (message is None or still_wanted(session, message)):
        return False
    message = _still_ours(session, claimed)
    if message is not None:
        message.lease_until = None
        if opted_out:
            message.error_code, message.last_error = OPTED_OUT_ERROR, "the recipient has opted out"
            fail_permanently(session, message)
        else:
            message.status, message.next_attempt_at, message.updated_at = MessageStatus.CANCELLED, None, clock.now()
            message.last_error = "no longer needed"
    return True


STATUS_CALLBACK = Actor.system("sms status callback")

# Twilio's statuses as callbacks report them, in our terms; others (queued, accepted...) say nothing new.
CALLBACK_STATUS = {"sent": MessageStatus.SENT, "delivered": MessageStatus.DELIVERED, "read": MessageStatus.DELIVERED,
                   "undelivered": MessageStatus.UNDELIVERED, "failed": MessageStatus.FAILED}


def record_status_callback(session: Session, *, provider_sid: str, provider_status: str,
                           error_code: int | None, client_address: str | None = None) -> bool:
    """Apply a delivery status callback. Late, repeated or out-of-order callbacks never move a
    status back. Returns True when the message changed. Audited when it changed: delivered here,
    failed or undelivered by `fail_permanently` (a repeated or stale callback writes nothing), with
    the address the callback came from."""
    new_status = CALLBACK_STATUS.get((provider_status or "").lower())
    message = session.scalar(sa.select(Message).where(Message.provider_sid == provider_sid)
                             .with_for_update())
    if message is None or new_status is None or new_status.rank <= message.status.rank:
        return False
    message.status, message.provider_status, message.updated_at = new_status, provider_status.lower(), clock.now()
    actor = replace(STATUS_CALLBACK, client_address=client_address)
    if new_status in (MessageStatus.UNDELIVERED, MessageStatus.FAILED):
        message.error_code = error_code
        fail_permanently(session, message, new_status, actor)
    elif new_status is MessageStatus.DELIVERED:
        record(session, actor, AuditAction.SMS_DELIVERED, object_type="message", object_id=message.id,
               patient_id=message.patient_id, details={"sid": provider_sid, "template": message.template})
    return True
