"""Clinical timings and thresholds (SPEC §4–§5), each named with its unit.

Each is overridable from the environment under the same name, so a clinic (or an
end-to-end test) can shrink a two-hour observation to seconds. Nothing clinical is
hard-coded elsewhere.
"""

CLINICAL_DEFAULTS: dict[str, int | float | str] = {
    # Escalation paging (SPEC §5). "Repeat" re-pages everyone paged so far until someone
    # acknowledges; 0 means no repeats.
    "ESCALATION_URGENT_REPEAT_MINUTES": 5.0,
    "ESCALATION_URGENT_BACKUP_AFTER_MINUTES": 5.0,
    "ESCALATION_URGENT_ON_CALL_AFTER_MINUTES": 20.0,
    "ESCALATION_HIGH_REPEAT_MINUTES": 5.0,
    "ESCALATION_HIGH_BACKUP_AFTER_MINUTES": 10.0,
    "ESCALATION_HIGH_ON_CALL_AFTER_MINUTES": 20.0,
    "ESCALATION_MODERATE_REPEAT_MINUTES": 0.0,
    "ESCALATION_MODERATE_BACKUP_AFTER_MINUTES": 30.0,
    # Compliance escalations page compliance staff at once; urgent and high ones repeat.
    "ESCALATION_COMPLIANCE_REPEAT_MINUTES": 60.0,
    # How often the scheduler advances due escalations.
    "ESCALATION_TICK_SECONDS": 1.0,
    # Dispensing (SPEC §3). Schedule III: no fill on or after this many days from issue (6 months).
    "SCHEDULE_III_FILL_WINDOW_DAYS": 182,
    # A delivered package not confirmed by the patient within this many days raises a compliance escalation.
    "RECEIPT_CONFIRMATION_DAYS": 3.0,
    # How often the scheduler looks for overdue receipts.
    "RECEIPT_OVERDUE_SWEEP_SECONDS": 300.0,
    # The largest count of items on hand anyone can plausibly report.
    "INVENTORY_MAX_PLAUSIBLE_COUNT": 500,
    # Sitters (SPEC §3): the code texted to a new sitter's phone is good this long, for this many tries.
    "SITTER_CODE_TTL_MINUTES": 1440.0,
    "SITTER_CODE_MAX_ATTEMPTS": 5,
}
