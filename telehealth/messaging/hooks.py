"""How a room learns that one of its messages failed for good.

A message enqueued with `owner_type="escalation"` is reported to the handler registered for
"escalation" (which pages the next person at once). Handlers run inside the dispatcher's or the
status callback's transaction, and may enqueue further messages.
"""
from __future__ import annotations

import logging
from typing import Callable

from sqlalchemy.orm import Session

from telehealth.messaging.models import Message

log = logging.getLogger(__name__)

FailureHandler = Callable[[Session, Message], None]
_failure_handlers: dict[str, FailureHandler] = {}


def on_permanent_failure(owner_type: str, handler: FailureHandler) -> None:
    _failure_handlers[owner_type] = handler


def report_permanent_failure(session: Session, message: Message) -> None:
    handler = _failure_handlers.get(message.owner_type or "")
    if handler is not None:
        handler(session, message)
    elif message.owner_type:
        log.warning("no failure handler for messages owned by %r (message %s)", message.owner_type, message.id)
