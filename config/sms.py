"""Crisis phrases: reviewed clinical content, not code.

Any inbound text containing one of these (whole words, case-insensitive, punctuation and
apostrophes ignored; a word ending in "*" matches any continuation, so "overdos*" catches
"overdosed") raises a safety alert and gets the crisis reply, whoever sent it and whatever the
conversation was about. Matching is `telehealth.inbound.parsing.mentions_crisis`.

The list errs towards false alarms: a prescriber dismissing an alert costs minutes, a missed
crisis does not bear thinking about. Changes go through clinical review. A deployment may
replace the whole list from the environment (`CRISIS_PHRASES`, "|"-separated), e.g. to add
phrases in the languages its patients write in.
"""
from __future__ import annotations

CRISIS_PHRASES: tuple[str, ...] = (
    # Thoughts of suicide or self-harm
    "suicid*",             # suicide, suicidal
    "kill* myself",        # kill, killing
    "end* my life",        # end, ending
    "want to die",
    "wanna die",
    "hurt* myself",        # hurt, hurting
    "self harm*",
    "self-harm*",
    # Overdose
    "overdos*",            # overdose, overdosed, overdosing
    "took too many",
    "took too much",
    # Breathing
    "can't breath*",       # breathe, breathing ("cant" too: apostrophes are ignored)
    "cannot breath*",
    "can not breath*",
    "trouble breathing",
    "not breathing",
    # Heart, consciousness, seizures
    "chest pain*",
    "heart attack",
    "passed out",
    "unconscious",
    "unresponsive",
    "seizure*",
)
