"""The append-only audit log. Every change, every refusal and every staff read of a patient
record is one `AuditEvent`, written in the same transaction as what it records, with its own MAC;
the scheduler then seals committed events into one keyed hash chain (`chain.py`), which
`flask --app wsgi audit verify` checks (`verify.py`). The byte encodings are in `canonical.py`."""
