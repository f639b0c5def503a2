"""Log-in and log-out through the pages, with CSRF and the lockout."""
from datetime import timedelta

import sqlalchemy as sa

from telehealth.accounts.models import LoginAttempt, Role
from telehealth.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, csrf_token, log_in


def actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_prescriber_logs_in_and_lands_on_their_alerts_with_the_patients_a_click_away(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    response = log_in(client, prescriber.email)
    assert response.status_code == 302
    assert client.get("/").headers["Location"] == "/escalations"
    start = client.get("/escalations")
    assert start.status_code == 200 and 'href="/patients"' in start.get_data(as_text=True)
    assert client.get("/patients").status_code == 200
    assert AuditAction.LOGIN_SUCCEEDED.value in actions(session)


def test_the_session_cookie_is_httponly_and_samesite(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    response = log_in(client, prescriber.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_production_cookies_are_secure(app):
    from telehealth.app import init_config
    from flask import Flask
    probe = Flask("probe")
    init_config(probe, "testing", {"SECURE_COOKIES": True})
    assert probe.config["SESSION_COOKIE_SECURE"] and probe.config["REMEMBER_COOKIE_SECURE"]
    assert probe.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)


def test_a_wrong_password_is_refused_and_counted(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    response = log_in(client, prescriber.email, password="not the password")
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)
    assert client.get("/patients").status_code == 302  # still logged out
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)
                          .where(LoginAttempt.succeeded.is_(False))) == 1
    assert AuditAction.LOGIN_FAILED.value in actions(session)


def test_a_deactivated_account_cannot_log_in(client, make):
    user = make.user(Role.PHARMACIST, active=False)
    assert log_in(client, user.email).status_code == 401


def test_repeated_wrong_passwords_from_one_address_are_rate_limited(client, make, session):
    """Twenty failures from one address, each against a different account, lock that address."""
    prescriber = make.user(Role.PRESCRIBER)
    for n in range(20):
        assert log_in(client, f"guess{n}@clinic.example.org", "wrong-guess", address="198.51.100.7").status_code == 401
    # Even the right password is refused from that address now...
    response = log_in(client, prescriber.email, address="198.51.100.7")
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    # ...while another address is unaffected.
    assert log_in(client, prescriber.email, address="198.51.100.8").status_code == 302
    assert AuditAction.LOGIN_RATE_LIMITED.value in actions(session)


def test_an_account_locks_after_five_failures_from_anywhere(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    for n in range(4):
        assert log_in(client, prescriber.email, "wrong", address=f"203.0.113.{n}").status_code == 401
    assert log_in(client, prescriber.email, "wrong", address="203.0.113.9").status_code == 401  # the fifth
    assert log_in(client, prescriber.email, address="203.0.113.10").status_code == 429


def test_four_failures_do_not_lock_the_account(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    for _ in range(4):
        log_in(client, prescriber.email, "wrong")
    assert log_in(client, prescriber.email).status_code == 302


def test_the_lock_opens_when_the_failures_leave_the_window(client, make, clock):
    prescriber = make.user(Role.PRESCRIBER)
    for _ in range(5):
        log_in(client, prescriber.email, "wrong")
    clock.advance(minutes=14, seconds=59)
    assert log_in(client, prescriber.email).status_code == 429
    clock.advance(seconds=2)
    assert log_in(client, prescriber.email).status_code == 302


def test_a_login_post_without_a_csrf_token_is_refused(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    response = client.post("/login", data={"email": prescriber.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/patients").status_code == 302
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0


def test_a_login_post_with_a_forged_csrf_token_is_refused(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    csrf_token(client)
    response = client.post("/login", data={"email": prescriber.email, "password": PASSWORD,
                                           "csrf_token": "forged"})
    assert response.status_code == 400


def test_logout_needs_the_csrf_token(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    log_in(client, prescriber.email)
    client.post("/logout")  # a cross-site POST carries no token
    assert client.get("/patients").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert client.get("/patients").status_code == 302


def test_login_redirects_only_within_the_site(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    token = csrf_token(client)
    response = client.post("/login?next=https://phish.example.net/", data={
        "email": prescriber.email, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_a_page_asks_for_login_and_returns_to_it(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/account")
    token = csrf_token(client)
    response = client.post("/login?next=/account", data={"email": prescriber.email, "password": PASSWORD,
                                                        "csrf_token": token})
    assert response.headers["Location"] == "/account"


def test_changing_the_password_ends_other_sessions(app, client, make):
    prescriber = make.user(Role.PRESCRIBER)
    other_device = app.test_client()
    log_in(client, prescriber.email)
    log_in(other_device, prescriber.email)
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "a brand new passphrase",
        "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    assert other_device.get("/account").status_code == 302
    assert log_in(app.test_client(), prescriber.email, "a brand new passphrase").status_code == 302


def test_a_weak_new_password_is_refused_and_the_old_one_kept(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    log_in(client, prescriber.email)
    response = client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "short", "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 422
    assert "at least 12 characters" in response.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert log_in(client, prescriber.email).status_code == 302
