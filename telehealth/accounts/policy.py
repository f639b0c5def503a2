"""Account settings that operations need, built once from the app's config and passed in,
so operations never read Flask's config themselves."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@dataclass(frozen=True)
class AccountPolicy:
    hasher: PasswordHasher
    password_min_length: int
    default_phone_region: str
    login_window: timedelta
    max_failures_per_account: int
    max_failures_per_address: int
    api_token_ttl: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "AccountPolicy":
        return cls(
            hasher=PasswordHasher(time_cost=config["ARGON2_TIME_COST"],
                                  memory_cost=config["ARGON2_MEMORY_COST_KIB"],
                                  parallelism=config["ARGON2_PARALLELISM"]),
            password_min_length=config["PASSWORD_MIN_LENGTH"],
            default_phone_region=config["DEFAULT_PHONE_REGION"],
            login_window=timedelta(seconds=config["LOGIN_WINDOW_SECONDS"]),
            max_failures_per_account=config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
            max_failures_per_address=config["LOGIN_MAX_FAILURES_PER_ADDRESS"],
            api_token_ttl=timedelta(hours=config["API_TOKEN_TTL_HOURS"]),
        )

    def hash_password(self, password: str) -> str:
        return self.hasher.hash(password)

    def password_matches(self, password_hash: str | None, password: str) -> bool:
        if not password_hash:
            # Spend the same time as a real check so a missing account is not told apart.
            self.hasher.hash(password)
            return False
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
