"""Escalations: severity policy, paging until a human acknowledges, acknowledgement, resolution."""
