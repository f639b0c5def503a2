"""Settings read from the environment, in three profiles.

`load_settings(profile)` returns a plain dict that `create_app()` copies into `app.config`.
Secrets have no defaults: development and testing use throwaway values generated at start (or,
for the audit key, which other processes must share, fixed throwaway values marked NOT-SECRET),
production refuses to start without the real ones (see `check_production`).

Every clinical timing and threshold lives in `config/clinical.py`, named with its unit.
"""
from __future__ import annotations

import os
import secrets
from typing import Any, Mapping

from config.clinical import CLINICAL_DEFAULTS
from config.sms import CRISIS_PHRASES

PROFILES = ("development", "testing", "production")


class ConfigurationError(RuntimeError):
    """The service must not start with these settings; the message names what is wrong."""


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"not a true/false value: {value!r}")


def _coerce(name: str, default: Any, raw: str) -> Any:
    try:
        if isinstance(default, tuple):
            # A list in one variable: items separated by "|" (crisis phrases contain commas).
            return tuple(item.strip() for item in raw.split("|") if item.strip())
        if isinstance(default, bool):
            return _bool(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={raw!r} is not a valid {type(default).__name__}") from exc
    return raw


# Settings common to every profile: name -> default. Each can be overridden by an
# environment variable of the same name. `None` means "no default": a secret or a
# deployment fact that production must be given.
COMMON: dict[str, Any] = {
    "CLINIC_NAME": "Lakeside Clinic",
    "DATABASE_URL": None,
    "SECRET_KEY": None,
    "PUBLIC_BASE_URL": None,
    # SMS: "console" logs and stores, sends nothing; "twilio" uses the twilio library.
    "SMS_BACKEND": "console",
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_MESSAGING_SERVICE_SID": None,
    "TWILIO_FROM_NUMBER": None,
    "TWILIO_API_BASE": None,
    "TWILIO_VALIDATE_SIGNATURES": True,
    "TWILIO_HTTP_TIMEOUT_SECONDS": 10.0,
    # Any inbound text containing one of these raises a safety alert and gets the crisis reply.
    "CRISIS_PHRASES": CRISIS_PHRASES,
    # The outbox dispatcher: retries with exponential backoff and jitter, then gives up.
    "SMS_MAX_ATTEMPTS": 8,
    "SMS_RETRY_BASE_SECONDS": 2.0,
    "SMS_RETRY_MAX_SECONDS": 300.0,
    # A dispatcher that dies mid-send holds its messages this long before another takes them.
    "SMS_LEASE_SECONDS": 60.0,
    "SMS_DISPATCH_BATCH": 50,
    "SMS_DISPATCH_INTERVAL_SECONDS": 1.0,
    # How late a scheduler run may start before APScheduler skips it (its default is 1 s).
    "JOB_MISFIRE_GRACE_SECONDS": 30,
    # Phones typed without a country code are read in this region.
    "DEFAULT_PHONE_REGION": "US",
    "DEFAULT_TIMEZONE": "America/New_York",
    # Run the scheduler's jobs inside the web process (the one-command demo only).
    "JOBS_IN_PROCESS": False,
    # Log-in protection: failures counted in a sliding window, in the database so the
    # limit holds across every gunicorn worker.
    "LOGIN_WINDOW_SECONDS": 900,
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "PASSWORD_MIN_LENGTH": 12,
    "API_TOKEN_TTL_HOURS": 24,
    "SESSION_IDLE_MINUTES": 60,
    "REMEMBER_ME_DAYS": 14,
    # argon2id cost. The defaults are argon2-cffi's (about 100 ms and 64 MiB a hash).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST_KIB": 65536,
    "ARGON2_PARALLELISM": 4,
    "SECURE_COOKIES": True,
    "LOG_LEVEL": "INFO",
    # The audit chain (telehealth.audit): the key of every event's MAC and every seal. A secret:
    # whoever holds it can forge the chain. At least 32 characters; never change it (the chain
    # already written would no longer verify).
    "AUDIT_HMAC_KEY": None,
    # How often the scheduler seals newly committed audit events into the chain.
    "AUDIT_SEAL_SECONDS": 1.0,
    # How many reverse proxies (TLS terminators) stand in front: their X-Forwarded-* are trusted.
    "TRUSTED_PROXY_HOPS": 0,
}

PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "development": {
        "DATABASE_URL": "sqlite:///instance/telehealth.sqlite3",
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "JOBS_IN_PROCESS": True,
        # Plain http on localhost: a Secure cookie would never come back.
        "SECURE_COOKIES": False,
        # The demo's simulator signs its own webhooks with this throwaway token.
        "TWILIO_AUTH_TOKEN": "development-only-auth-token",
        # Fixed, not random per start: `audit verify` runs in another process and needs the same key.
        "AUDIT_HMAC_KEY": "development-only-audit-key-NOT-SECRET-do-not-use-in-production",
    },
    "testing": {
        "DATABASE_URL": "sqlite:///:memory:",
        "PUBLIC_BASE_URL": "http://localhost",
        "SECURE_COOKIES": False,
        "TWILIO_AUTH_TOKEN": "testing-only-auth-token",
        "AUDIT_HMAC_KEY": "testing-only-audit-key-NOT-SECRET-do-not-use-in-production",
        # Cheap hashes in tests only: the real cost is ~100 ms a hash.
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST_KIB": 8,
        "ARGON2_PARALLELISM": 1,
    },
    "production": {"SMS_BACKEND": "twilio"},
}

# Production refuses to start unless each of these is set.
REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID",
                          "TWILIO_AUTH_TOKEN", "AUDIT_HMAC_KEY")
AUDIT_KEY_MIN_LENGTH = 32


def load_settings(profile: str | None = None, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Merge defaults, the profile, the environment and explicit overrides, in that order."""
    environ = os.environ if environ is None else environ
    profile = profile or environ.get("TELEHEALTH_PROFILE", "development")
    if profile not in PROFILES:
        raise ConfigurationError(f"TELEHEALTH_PROFILE must be one of {', '.join(PROFILES)}, not {profile!r}")

    defaults = {**COMMON, **CLINICAL_DEFAULTS, **PROFILE_DEFAULTS[profile]}
    settings: dict[str, Any] = {}
    for name, default in defaults.items():
        raw = environ.get(name)
        settings[name] = default if raw is None or raw == "" else _coerce(name, default, raw)
    settings.update(overrides or {})
    settings["PROFILE"] = profile

    if profile == "production":
        check_production(settings)
    elif not settings["SECRET_KEY"]:
        # A fresh key each start: development sessions do not survive a restart, which is fine.
        settings["SECRET_KEY"] = secrets.token_hex(32)
    return settings


def check_production(settings: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED_IN_PRODUCTION if not settings.get(name)]
    if not (settings.get("TWILIO_MESSAGING_SERVICE_SID") or settings.get("TWILIO_FROM_NUMBER")):
        missing.append("TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER")
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if not settings.get("TWILIO_VALIDATE_SIGNATURES"):
        problems.append("TWILIO_VALIDATE_SIGNATURES is off (webhook signatures must be checked)")
    if settings.get("SMS_BACKEND") != "twilio":
        problems.append(f"SMS_BACKEND is {settings.get('SMS_BACKEND')!r} (production sends with 'twilio')")
    if str(settings.get("DATABASE_URL") or "").startswith("sqlite"):
        problems.append("DATABASE_URL points at SQLite (production runs on PostgreSQL)")
    audit_key = str(settings.get("AUDIT_HMAC_KEY") or "")
    if audit_key and (len(audit_key) < AUDIT_KEY_MIN_LENGTH or "NOT-SECRET" in audit_key):
        problems.append(f"AUDIT_HMAC_KEY is too short or a throwaway value (at least {AUDIT_KEY_MIN_LENGTH} "
                        "random characters)")
    if not settings.get("SECURE_COOKIES"):
        problems.append("SECURE_COOKIES is off")
    if problems:
        raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
