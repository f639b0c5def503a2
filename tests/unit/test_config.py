import pytest

from config import ConfigurationError, load_settings

COMPLETE_PRODUCTION = {
    "SECRET_KEY": "a-long-random-secret-from-the-vault",
    "DATABASE_URL": "postgresql+psycopg://clinic@db.internal/clinic",
    "PUBLIC_BASE_URL": "https://clinic.example.org",
    "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
    "TWILIO_AUTH_TOKEN": "test-token-not-real",
    "TWILIO_MESSAGING_SERVICE_SID": "MG00000000000000000000000000000000",
    "AUDIT_HMAC_KEY": "a-long-random-audit-key-from-the-vault-0123456789",
}


def test_production_with_every_secret_starts():
    settings = load_settings("production", environ=COMPLETE_PRODUCTION)
    assert settings["SMS_BACKEND"] == "twilio"
    assert settings["TWILIO_VALIDATE_SIGNATURES"] is True


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID",
                                     "TWILIO_AUTH_TOKEN", "AUDIT_HMAC_KEY"])
def test_production_without_a_secret_refuses_naming_it(missing):
    environ = {k: v for k, v in COMPLETE_PRODUCTION.items() if k != missing}
    with pytest.raises(ConfigurationError, match=missing):
        load_settings("production", environ=environ)


def test_production_without_a_sender_refuses():
    environ = {k: v for k, v in COMPLETE_PRODUCTION.items() if k != "TWILIO_MESSAGING_SERVICE_SID"}
    with pytest.raises(ConfigurationError, match="TWILIO_FROM_NUMBER"):
        load_settings("production", environ=environ)


def test_production_with_signature_checking_off_refuses():
    with pytest.raises(ConfigurationError, match="TWILIO_VALIDATE_SIGNATURES"):
        load_settings("production", environ={**COMPLETE_PRODUCTION, "TWILIO_VALIDATE_SIGNATURES": "false"})


def test_production_on_sqlite_refuses():
    with pytest.raises(ConfigurationError, match="SQLite"):
        load_settings("production", environ={**COMPLETE_PRODUCTION, "DATABASE_URL": "sqlite:///x.db"})


def test_an_empty_secret_counts_as_missing():
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        load_settings("production", environ={**COMPLETE_PRODUCTION, "SECRET_KEY": ""})


def test_environment_overrides_are_typed():
    settings = load_settings("development", environ={"LOGIN_MAX_FAILURES_PER_ACCOUNT": "3",
                                                     "JOBS_IN_PROCESS": "off"})
    assert settings["LOGIN_MAX_FAILURES_PER_ACCOUNT"] == 3
    assert settings["JOBS_IN_PROCESS"] is False


def test_a_malformed_number_in_the_environment_is_named():
    with pytest.raises(ConfigurationError, match="LOGIN_WINDOW_SECONDS"):
        load_settings("development", environ={"LOGIN_WINDOW_SECONDS": "fifteen minutes"})


def test_unknown_profile_is_refused():
    with pytest.raises(ConfigurationError, match="TELEHEALTH_PROFILE"):
        load_settings("staging", environ={})


def test_development_gets_a_throwaway_secret_key_each_start():
    first = load_settings("development", environ={})["SECRET_KEY"]
    second = load_settings("development", environ={})["SECRET_KEY"]
    assert first and second and first != second


def test_embedded_default_is_sqlite_console_sms_and_in_process_jobs():
    settings = load_settings("development", environ={})
    assert settings["DATABASE_URL"].startswith("sqlite")
    assert settings["SMS_BACKEND"] == "console"
    assert settings["JOBS_IN_PROCESS"] is True


def test_crisis_phrases_can_be_replaced_from_the_environment():
    settings = load_settings("development", environ={"CRISIS_PHRASES": "want to die | can't go on|"})
    assert settings["CRISIS_PHRASES"] == ("want to die", "can't go on")


def test_the_default_crisis_phrases_come_from_the_reviewed_list():
    from config.sms import CRISIS_PHRASES
    assert load_settings("development", environ={})["CRISIS_PHRASES"] == CRISIS_PHRASES
    assert "chest pain*" in CRISIS_PHRASES


def test_the_readme_lists_every_setting():
    """SPEC §9: every timing and threshold is named in the README (a `…_SUFFIX` row counts for its family)."""
    from pathlib import Path

    from config import COMMON
    from config.clinical import CLINICAL_DEFAULTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [name for name in [*COMMON, *CLINICAL_DEFAULTS]
               if name not in readme and not any(f"`…{name[i:]}`" in readme for i in range(1, len(name)))]
    assert not missing, f"settings missing from the README: {missing}"
