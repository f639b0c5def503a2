"""The append-only audit log. Every change, every refusal and every staff read of a patient
record is one `AuditEvent`, written in the same transaction as what it records."""
