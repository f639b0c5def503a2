"""The dispatcher job: drain the outbox through the SMS backend."""
from __future__ import annotations

import logging
import random
from collections import Counter

from flask import current_app

from telehealth.messaging import dispatcher
from telehealth.messaging.backends import SendError, SmsBackend, backend_from_config
from telehealth.messaging.dispatcher import DispatchPolicy

log = logging.getLogger(__name__)


def configured_backend() -> SmsBackend:
    """One backend per app (the twilio client keeps its connection pool)."""
    backend = current_app.extensions.get("sms_backend")
    if backend is None:
        backend = current_app.extensions["sms_backend"] = backend_from_config(current_app.config)
    return backend


def dispatch_outbox(job, *, backend: SmsBackend | None = None, rng: random.Random | None = None,  # noqa: ANN001
                    max_batches: int = 20) -> dict[str, int]:
    """Claim due messages batch by batch, send each, record each outcome in its own transaction."""
    backend = backend or configured_backend()
    rng = rng or random.Random()
    policy = DispatchPolicy.from_config(job.config)
    tally: Counter[str] = Counter()
    for _ in range(max_batches):
        with job.transaction() as session:
            batch = dispatcher.claim_due(session, policy)
        if not batch:
            break
        for claimed in batch:
            with job.transaction() as session:
                if dispatcher.refuse_if_unwanted(session, claimed):
                    tally["not sent"] += 1
                    continue
            try:
                result = backend.send(to=claimed.to, body=claimed.body, status_callback=policy.status_callback_url)
            except SendError as error:
                with job.transaction() as session:
                    tally[dispatcher.record_send_error(session, claimed, error, policy, rng)] += 1
                continue
            with job.transaction() as session:
                dispatcher.record_sent(session, claimed, result)
            tally["sent"] += 1
    return dict(tally)
