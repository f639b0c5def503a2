"""The audit chain's byte encodings and keyed hashes (version 1). Pure: no database, no app.

These bytes are frozen: every stored MAC and seal was computed with them, so a change here
breaks every existing chain. A new format needs a new version tag and a migration.

Event content (what an event's MAC covers): nine fields in this order,

    occurred_at, actor_user_id, actor_label, action, object_type, object_id, patient_id,
    client_address, details

each written as its text's UTF-8 length in decimal, ":", the text and "\n", or as "-\n" when
absent (NULL). Length-prefixed, so the encoding is injective: no two different rows share one
content, whatever their texts contain.

  - occurred_at is UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six fractional digits);
  - ids are written in decimal;
  - the details are written by `record()` as `json.dumps(details, sort_keys=True)` (Python's
    default separators ", " and ": ", ASCII escapes), which is also exactly the text SQLAlchemy
    stores in the JSON column on both databases (PostgreSQL's `json` keeps its input verbatim),
    so verification hashes the stored text and never parses JSON.

The same bytes are built by `record()` in Python and, for verification, by the database itself
(`telehealth.audit.chain.content_sql`, on PostgreSQL and SQLite), so the verifier only hashes.

    event MAC = HMAC-SHA-256(key, b"lozenge-audit-event-v1\\n" || nonce (16 random bytes) || content)

The nonce makes every MAC unique (two identical reads in one instant still differ) and is
unique in the table, so a copy of a genuine row cannot be replayed.

Seal (one link of the chain), for chain position `seq` (1, 2, ...):

    hash = HMAC-SHA-256(key, b"lozenge-audit-seal-v1\\n" || seq (8 bytes, big-endian)
                              || event id (8 bytes, big-endian) || prev_hash (32) || event MAC (32))

with prev_hash the previous seal's hash (32 zero bytes for seal 1). The link is keyed, not a
bare SHA-256: anyone who can write to the database could recompute a bare SHA-256 chain after
deleting or reordering rows; without the key they cannot.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from datetime import datetime, timezone
from typing import Any

EVENT_TAG = b"lozenge-audit-event-v1\n"
SEAL_TAG = b"lozenge-audit-seal-v1\n"
GENESIS = bytes(32)
NONCE_BYTES = 16
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_pack_ids = struct.Struct(">QQ").pack


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def time_text(moment: datetime) -> str:
    """An aware datetime as the canonical UTC text."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the audit encoding")
    return moment.astimezone(timezone.utc).strftime(TIME_FORMAT)


def details_text(details: dict[str, Any] | None) -> str:
    """The details as they are stored and hashed: `json.dumps` with sorted keys."""
    return json.dumps(details or {}, sort_keys=True)


def _field(value: object) -> bytes:
    if value is None:
        return b"-\n"
    text = str(value).encode()
    return b"%d:%s\n" % (len(text), text)


def event_content(occurred_at: str, actor_user_id: int | None, actor_label: str, action: str,
                  object_type: str | None, object_id: str | None, patient_id: int | None,
                  client_address: str | None, details: str) -> bytes:
    """The canonical content of one event; `occurred_at` and `details` are already texts."""
    return b"".join(map(_field, (occurred_at, actor_user_id, actor_label, action, object_type, object_id,
                                 patient_id, client_address, details)))


class ChainKey:
    """HMAC-SHA-256 with one key, fast: the key's inner and outer pads are hashed once and each
    MAC copies those states (RFC 2104; equal to `hmac.digest(key, message, "sha256")`)."""

    def __init__(self, key: bytes | str):
        if isinstance(key, str):
            key = key.encode()
        if not key:
            raise ValueError("the audit key is empty")
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        # The inner states with each tag already absorbed: one update fewer a MAC.
        self._event_inner = self._inner.copy()
        self._event_inner.update(EVENT_TAG)
        self._seal_inner = self._inner.copy()
        self._seal_inner.update(SEAL_TAG)

    def mac(self, *parts: bytes) -> bytes:
        inner = self._inner.copy()
        for part in parts:
            inner.update(part)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def event_mac(self, nonce: bytes, content: bytes) -> bytes:
        return self.mac(EVENT_TAG, nonce, content)

    def seal_hash(self, seq: int, event_id: int, prev_hash: bytes, event_mac: bytes) -> bytes:
        return self.mac(SEAL_TAG, _pack_ids(seq, event_id), prev_hash, event_mac)

    def hot_functions(self):  # noqa: ANN201
        """For verification's inner loop (no attribute look-ups per row): fresh inner states with
        the event tag and with the seal tag absorbed, a fresh outer state, and the id packer."""
        return self._event_inner.copy, self._seal_inner.copy, self._outer.copy, _pack_ids
