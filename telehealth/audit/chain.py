"""The audit chain: events are appended freely, then sealed into one keyed hash chain, in order.

Design (SPEC §8: appending is cheap and concurrent; sealing may happen just after commit):

- `record()` inserts an immutable `AuditEvent` in the caller's transaction with its own MAC
  (HMAC-SHA-256 under `AUDIT_HMAC_KEY` over a random nonce and the event's canonical content,
  see `telehealth.audit.canonical`). No lock, no read of other rows: requests never wait for
  each other because of the audit.
- The sealer (`seal_pending`, run by the scheduler every `AUDIT_SEAL_SECONDS`) appends rows to
  `audit_seals`: seal `seq` names one event and carries `hash` = HMAC-SHA-256 over (seq, event
  id, the previous seal's hash, the event's MAC). Only one sealer works at a time (PostgreSQL:
  a transaction-scoped advisory lock, others skip; SQLite: `BEGIN IMMEDIATE` serializes every
  writer). It refuses to seal an event whose MAC is wrong (inserted or edited directly in the
  database without the key): that event stays unsealed and `audit verify` names it.
- Order. Event ids are handed out at insert but transactions commit in any order, so "every
  event with an id above the last sealed one" would miss an event whose transaction was still
  running. On PostgreSQL each event stores its transaction id (`txid`, a column default), and the
  sealer takes only events whose transaction is older than every transaction still running
  (`txid < pg_snapshot_xmin(pg_current_snapshot())`), in (txid, id) order, after the last
  sealed one. Those transactions have all ended, so nothing can later appear before the
  point sealed. On SQLite writers are serialized, so commit order is id order.
- Neither table is ever updated or deleted by the application; on PostgreSQL triggers (migration
  0006) refuse UPDATE, DELETE and TRUNCATE of both.
- `telehealth.audit.verify` walks the seals in order and checks every link and every MAC, and
  that every event older than a grace is sealed.

What it cannot see: removing the newest events together with their seals leaves a shorter chain
that is still sound. `audit verify` prints the chain's head (seq and hash) so that it can be
recorded elsewhere and compared.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from telehealth.audit.canonical import GENESIS, ChainKey
from telehealth.audit.keys import chain_key

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the sealer ("audit" in ASCII).
SEAL_LOCK = 0x6175646974
DEFAULT_BATCH = 5000


def time_column(dialect: str, alias: str = "e") -> str:
    """SQL for an event's time as its canonical text (which sorts like the time)."""
    if dialect == "postgresql":
        return f"""to_char({alias}.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    return f"(replace({alias}.occurred_at, ' ', 'T') || 'Z')"


# Columns that may be NULL; the others are NOT NULL, and a NULL forced into one (SQLite has no
# guard) yields no content at all, which matches no MAC.
_NULLABLE = {"actor_user_id", "object_type", "object_id", "patient_id", "client_address"}


def content_columns(dialect: str, alias: str = "e") -> str:
    """SQL for three columns of an event: its canonical content (the bytes its MAC covers, see
    `telehealth.audit.canonical`), built by the database itself, then its nonce and MAC. The
    reader then only hashes: no per-field work in Python."""
    a = alias
    if dialect == "postgresql":
        # Lengths in UTF-8 bytes: octet_length counts the database's encoding, UTF8 here
        # (initdb --encoding=UTF8); the content is handed over as UTF-8 bytes.
        texts = {"occurred_at": time_column(dialect, a), "actor_user_id": f"{a}.actor_user_id::text",
                 "actor_label": f"{a}.actor_label", "action": f"{a}.action", "object_type": f"{a}.object_type",
                 "object_id": f"{a}.object_id", "patient_id": f"{a}.patient_id::text",
                 "client_address": f"{a}.client_address", "details": f"{a}.details::text"}
        newline, absent = "E'\\n'", "E'-\\n'"
        length = "octet_length({})::text"
    else:  # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC) in SQLite; the database is UTF-8
        texts = {"occurred_at": time_column(dialect, a), "actor_user_id": f"CAST({a}.actor_user_id AS TEXT)",
                 "actor_label": f"{a}.actor_label", "action": f"{a}.action", "object_type": f"{a}.object_type",
                 "object_id": f"{a}.object_id", "patient_id": f"CAST({a}.patient_id AS TEXT)",
                 "client_address": f"{a}.client_address", "details": f"CAST({a}.details AS TEXT)"}
        newline, absent = "char(10)", "'-' || char(10)"
        length = "length(CAST({} AS BLOB))"
    fields = []
    for name, text in texts.items():
        field = f"{length.format(text)} || ':' || {text} || {newline}"
        if name == "occurred_at" and dialect == "postgresql":
            # to_char of a timestamptz is 27 bytes for every year Python can write, and never holds
            # a newline, so the field stays self-delimiting even past year 9999: skip a second to_char.
            field = f"'27:' || {text} || {newline}"
        fields.append(f"coalesce({field}, {absent})" if name in _NULLABLE else field)
    content = " || ".join(fields)
    content = f"convert_to({content}, 'UTF8')" if dialect == "postgresql" else f"CAST({content} AS BLOB)"
    return f"{content}, {a}.nonce, {a}.mac"


@dataclass
class SealOutcome:
    sealed: int = 0
    refused: list[int] = field(default_factory=list)  # events with a wrong MAC, left unsealed
    busy: bool = False  # another sealer holds the lock

    def __str__(self) -> str:
        text = f"sealed {self.sealed}"
        if self.refused:
            text += f", refused {len(self.refused)} with a wrong MAC (event {', '.join(map(str, self.refused[:5]))})"
        return text


def seal_pending(session: Session, limit: int = DEFAULT_BATCH, *, key: ChainKey | None = None) -> SealOutcome:
    """Seal up to `limit` committed, unsealed events, in order. The caller commits."""
    key = key or chain_key(session)
    connection = session.connection()
    dialect = connection.dialect.name
    outcome = SealOutcome()
    if dialect == "postgresql":
        if not connection.execute(sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SEAL_LOCK}).scalar():
            outcome.busy = True
            return outcome

    head = connection.execute(sa.text(
        "SELECT s.seq, s.hash, s.event_id, e.txid FROM audit_seals s LEFT JOIN audit_events e ON e.id = s.event_id "
        "ORDER BY s.seq DESC LIMIT 1")).first()
    if head is None:
        seq, prev_hash, last_id, last_txid = 0, GENESIS, 0, -1
    else:
        seq, prev_hash, last_id, last_txid = head
        prev_hash = bytes(prev_hash)
        if dialect == "postgresql" and last_txid is None:
            log.error("audit chain: the event of seal %s (event %s) is missing; sealing stopped until "
                      "`audit verify` is looked at", seq, last_id)
            return outcome

    columns = content_columns(dialect)
    if dialect == "postgresql":
        rows = connection.execute(sa.text(
            f"SELECT e.id, {columns} FROM audit_events e "
            "WHERE (e.txid, e.id) > (:txid, :id) "
            "AND e.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
            "ORDER BY e.txid, e.id LIMIT :limit"), {"txid": last_txid, "id": last_id, "limit": limit}).all()
    else:
        rows = connection.execute(sa.text(
            f"SELECT e.id, {columns} FROM audit_events e WHERE e.id > :id ORDER BY e.id LIMIT :limit"),
            {"id": last_id, "limit": limit}).all()

    seals = []
    for event_id, content, nonce, mac in rows:
        nonce, mac = bytes(nonce), bytes(mac)
        if key.event_mac(nonce, bytes(content)) != mac:
            log.error("audit chain: event %s has a wrong MAC (inserted or edited directly in the database); "
                      "not sealed", event_id)
            outcome.refused.append(event_id)
            continue
        seq += 1
        digest = key.seal_hash(seq, event_id, prev_hash, mac)
        seals.append({"seq": seq, "event_id": event_id, "prev_hash": prev_hash, "hash": digest})
        prev_hash = digest
    if seals:
        connection.execute(sa.text(
            "INSERT INTO audit_seals (seq, event_id, prev_hash, hash) VALUES (:seq, :event_id, :prev_hash, :hash)"),
            seals)
    outcome.sealed = len(seals)
    return outcome
