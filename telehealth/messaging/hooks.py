"""How the room that owns a message takes part in its sending, without messaging importing it.

A message enqueued with `owner_type="escalation"` is checked with the "still wanted" check
registered for "escalation" just before it is sent (an acknowledged escalation's queued pages are
not), and a permanent failure is reported to its failure handler (which pages the next person at
once). Both run inside the dispatcher's or the status callback's transaction.
"""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.orm import Session

from telehealth.messaging.models import Message

log = logging.getLogger(__name__)

FailureHandler = Callable[[Session, Message], None]
StillWanted = Callable[[Session, Message], bool]
_failure_handlers: dict[str, FailureHandler] = {}
_still_wanted: dict[str, StillWanted] = {}


def on_permanent_failure(owner_type: str, handler: FailureHandler) -> None:
    _failure_handlers[owner_type] = handler


def on_still_wanted(owner_type: str, check: StillWanted) -> None:
    _still_wanted[owner_type] = check


def still_wanted(session: Session, message: Message) -> bool:
    check = _still_wanted.get(message.owner_type or "")
    return check is None or check(session, message)


def report_permanent_failure(session: Session, message: Message) -> None:
    handler = _failure_handlers.get(message.owner_type or "")
    if handler is not None:
        handler(session, message)
    elif message.owner_type:
        log.warning("no failure handler for messages owned by %r (message %s)", message.owner_type, message.id)
