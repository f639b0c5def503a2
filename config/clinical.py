"""Clinical timings and thresholds (SPEC §4–§5), each named with its unit.

Each is overridable from the environment under the same name, so a clinic (or an
end-to-end test) can shrink a two-hour observation to seconds. Later issues add the
dose-session and escalation values here; nothing clinical is hard-coded elsewhere.
"""

CLINICAL_DEFAULTS: dict[str, int | float | str] = {}
