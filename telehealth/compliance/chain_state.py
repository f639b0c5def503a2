"""The audit chain as the compliance dashboard shows it: its head, what waits to be sealed, and a
check of the whole chain on demand, by `telehealth.audit.verify` (the same walk as
`flask --app wsgi audit verify`, never a second implementation).

Cheap to show: the head is the last seal (its seq is the chain's length: seals are numbered
1, 2, 3... and verification checks there is no gap); events waiting are every event minus every
sealed one (each seal names a distinct event), and the oldest of them is looked up where the
sealer would look, after the head in its own order ((txid, id) on PostgreSQL, id on SQLite).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth import clock
from telehealth.actor import Actor
from telehealth.audit.keys import chain_key
from telehealth.audit.models import AuditAction, AuditEvent, AuditSeal
from telehealth.audit.operations import record
from telehealth.audit.verify import Report, verify_chain
from telehealth.compliance.filters import ReportFilters
from telehealth.compliance.operations import audit_read, ensure_compliance

# As `audit verify`'s default: an event older than this must have been sealed.
VERIFY_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class ChainState:
    sealed: int                      # events in the chain (the head's seq)
    head_event_id: int | None
    head_event_at: datetime | None   # when the head's event happened
    head_hash: str | None
    waiting: int                     # events not sealed yet
    oldest_waiting_at: datetime | None
    now: datetime

    @property
    def oldest_waiting_age(self) -> timedelta | None:
        return None if self.oldest_waiting_at is None else self.now - self.oldest_waiting_at

    @property
    def oldest_waiting_age_text(self) -> str | None:
        age = self.oldest_waiting_age
        if age is None:
            return None
        seconds = max(int(age.total_seconds()), 0)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit}{'s' if seconds // size != 1 else ''}"
        return f"{seconds} s"


def state(session: Session, actor: Actor) -> ChainState:
    """The chain's head and backlog. Compliance only; the read is audited."""
    ensure_compliance(actor, "audit_chain")
    head = session.execute(
        sa.select(AuditSeal.seq, AuditSeal.event_id, AuditSeal.hash, AuditEvent.occurred_at, AuditEvent.txid)
        .outerjoin(AuditEvent, AuditEvent.id == AuditSeal.event_id).order_by(AuditSeal.seq.desc()).limit(1)).first()
    events = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
    sealed_rows = session.scalar(sa.select(sa.func.count()).select_from(AuditSeal)) or 0
    after = sa.true()
    if head is not None:
        if session.get_bind().dialect.name == "postgresql" and head.txid is not None:
            after = sa.tuple_(AuditEvent.txid, AuditEvent.id) > sa.tuple_(head.txid, head.event_id)
        else:
            after = AuditEvent.id > head.event_id
    oldest = session.scalar(sa.select(sa.func.min(AuditEvent.occurred_at)).where(after))
    audit_read(session, actor, "audit_chain", ReportFilters())  # after counting: the figures are as found
    return ChainState(sealed=head.seq if head else 0, head_event_id=head.event_id if head else None,
                      head_event_at=head.occurred_at if head else None,
                      head_hash=bytes(head.hash).hex() if head else None, waiting=max(events - sealed_rows, 0),
                      oldest_waiting_at=oldest, now=clock.now())


def verify(session: Session, actor: Actor) -> Report:
    """Walk and check the whole chain now; audited with the outcome and the first problem."""
    ensure_compliance(actor, "audit_chain")
    report = verify_chain(session.connection(), chain_key(session), now=clock.now(), grace=VERIFY_GRACE)
    record(session, actor, AuditAction.AUDIT_CHAIN_VERIFIED, object_type="audit_chain", object_id=report.head_seq,
           details={"ok": report.ok, "sealed": report.sealed, "pending": report.pending,
                    "problems": report.problem_count, "first_problem": report.problems[0] if report.problems else None,
                    "head_seq": report.head_seq, "head_hash": report.head_hash.hex(),
                    "seconds": round(report.seconds, 3)})
    return report
