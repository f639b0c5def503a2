"""The sealer the scheduler runs every AUDIT_SEAL_SECONDS: committed audit events join the chain
in batches, each batch in a transaction of its own. Safe in any number of scheduler processes:
one seals while the others find the lock taken and move on."""
from __future__ import annotations

from telehealth.audit.chain import DEFAULT_BATCH, seal_pending


def seal_audit_chain(job, *, batch: int = DEFAULT_BATCH, max_batches: int = 200) -> str | None:  # noqa: ANN001
    sealed, refused = 0, []
    for _ in range(max_batches):
        with job.transaction() as session:
            outcome = seal_pending(session, batch)
        sealed += outcome.sealed
        refused += outcome.refused
        if outcome.busy or outcome.sealed + len(outcome.refused) < batch:
            break
    if not (sealed or refused):
        return None  # nothing to log every second
    return f"sealed {sealed}" + (f", refused {len(refused)} with a wrong MAC (events {refused[:5]})" if refused else "")
