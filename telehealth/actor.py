"""Who is acting, and from where: passed to every operation and written to the audit log.

Operations never read `flask.request` or `current_user`; the entry point (a view, the
webhook, a job, the CLI) builds an `Actor` and hands it down.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    role: str | None          # a Role value, "system", or None for an anonymous caller
    label: str                # what the audit log shows: "user 12", "system: scheduler", "anonymous"
    client_address: str | None = None

    @classmethod
    def system(cls, what: str) -> "Actor":
        return cls(user_id=None, role="system", label=f"system: {what}")

    @classmethod
    def anonymous(cls, client_address: str | None) -> "Actor":
        return cls(user_id=None, role=None, label="anonymous", client_address=client_address)

    @classmethod
    def for_user(cls, user: "object", client_address: str | None = None) -> "Actor":
        role = getattr(user, "role")
        return cls(user_id=getattr(user, "id"), role=role.value if hasattr(role, "value") else role,
                   label=f"user {getattr(user, 'id')}", client_address=client_address)
