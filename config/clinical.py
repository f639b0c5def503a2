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
    # Dose sessions (SPEC §4). Every time is counted from the scheduled time, the clearance or
    # the dose, as named.
    "SESSION_WINDOW_OPENS_MINUTES_BEFORE": 30.0,    # patient and sitter reminded; check-ins open
    "SITTER_ARRIVAL_MINUTES_AFTER_SCHEDULED": 30.0,  # HERE by then, or moderate escalation, missed
    "PRE_DOSE_REPORT_MINUTES_AFTER_SCHEDULED": 30.0, # questionnaire A by then, or the same
    "BP_RECHECK_REST_MINUTES": 5.0,                 # rest before the second reading that decides
    "DOSE_TAKEN_REMINDER_MINUTES": 20.0,            # after clearance
    "DOSE_TAKEN_WITHIN_MINUTES": 30.0,              # after clearance, or low escalation, clearance expires
    # A TAKEN this long after the clearance expired is still recorded (the ledger, the record) and
    # pages the prescriber (high): the patient may be dosed without anyone watching.
    "LATE_TAKEN_RECORDED_WITHIN_MINUTES": 120.0,
    "POST_DOSE_REPORT_MINUTES_AFTER_DOSE": 60.0,    # questionnaire B is asked then
    "POST_DOSE_REPORT_GRACE_MINUTES": 15.0,         # ... and missing after this grace is a high escalation
    "RELEASE_MINUTES_AFTER_DOSE": 120.0,            # the sitter may release (OK) from then
    "RELEASE_GRACE_MINUTES": 15.0,                  # ... and no release after this grace is high
    "OBSERVATION_CHECK_EVERY_MINUTES": 30.0,        # "does the patient respond to their name?"
    "OBSERVATION_CHECK_ANSWER_MINUTES": 10.0,       # no OK within this is a high escalation
    # A reminder this late (a scheduler that was down) is not sent: its moment has passed.
    "REMINDER_STALE_AFTER_MINUTES": 10.0,
    # How often the scheduler starts its deadline sweep; between starts it sleeps until the next
    # deadline falls due and sweeps it then, so no deadline waits for the next start.
    "DEADLINE_SWEEP_SECONDS": 1.0,
    # Due deadlines handled per transaction by the sweep (their sessions locked together; a
    # check-in on one of them waits for the batch to commit).
    "DEADLINE_SWEEP_BATCH": 20,
    # Threads of one scheduler process taking batches at once (PostgreSQL; SQLite uses one).
    "DEADLINE_SWEEP_WORKERS": 2,
    # Gates on the pre-dose report (SPEC §4), mmHg and beats per minute. A reading at or above a
    # hold threshold is rechecked after a rest; the recheck decides.
    "BP_HOLD_SYSTOLIC_MMHG": 160,
    "BP_HOLD_DIASTOLIC_MMHG": 100,
    "BP_URGENT_SYSTOLIC_MMHG": 180,
    "BP_URGENT_DIASTOLIC_MMHG": 110,
    "PULSE_HOLD_ABOVE_BPM": 120,
    "PULSE_HOLD_BELOW_BPM": 45,
    # Post-dose: dissociation or confusion at or above this (0-10) is a moderate escalation.
    "DISSOCIATION_MODERATE_AT": 8,
}
