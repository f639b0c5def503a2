"""Dose sessions: scheduling, check-ins, questionnaires, safety gates, deadlines (SPEC §4)."""
