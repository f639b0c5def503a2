"""Admins create staff accounts on the web, the API and the CLI; bad input changes nothing."""
import pytest
import sqlalchemy as sa

from telehealth.accounts.models import Role, User
from telehealth.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD, csrf_token, log_in


def user_count(session) -> int:
    session.expire_all()
    return session.scalar(sa.select(sa.func.count()).select_from(User))


@pytest.fixture
def admin_client(client, make):
    log_in(client, make.user(Role.ADMIN).email)
    return client


def post_form(client, **fields):
    data = {"full_name": "Noor Haddad", "email": "noor@clinic.example.org", "role": "pharmacist",
            "phone": "", "password": PASSWORD, **fields}
    return client.post("/admin/users", data={**data, "csrf_token": csrf_token(client, "/admin/users")})


def test_an_admin_creates_a_staff_account_on_the_web(admin_client, session):
    response = post_form(admin_client, role="prescriber", phone="(201) 555-0160")
    assert response.status_code == 302
    session.expire_all()
    created = session.scalar(sa.select(User).where(User.email == "noor@clinic.example.org"))
    assert created.role is Role.PRESCRIBER and created.phone == "+12015550160"
    assert "Noor Haddad" in admin_client.get("/admin/users").get_data(as_text=True)


@pytest.mark.parametrize("fields,field,message", [
    ({"role": "wizard"}, "role", "Not a valid choice"),
    ({"role": "patient"}, "role", "Not a valid choice"),
    ({"email": "noor-at-clinic"}, "email", "@-sign"),
    ({"phone": "555-12"}, "phone", "full phone number"),
    ({"password": "short"}, "password", "at least 12"),
    ({"password": ""}, "password", "required"),
])
def test_bad_staff_input_is_a_form_error_and_writes_nothing(admin_client, session, fields, field, message):
    before = user_count(session)
    response = post_form(admin_client, **fields)
    assert response.status_code in (400, 422)
    assert message.lower() in response.get_data(as_text=True).lower()
    assert user_count(session) == before


def test_a_duplicate_phone_is_a_form_error(admin_client, make, session):
    existing = make.user(Role.PRESCRIBER)
    before = user_count(session)
    response = post_form(admin_client, phone=existing.phone)
    assert response.status_code == 422
    assert "already registered" in response.get_data(as_text=True)
    assert user_count(session) == before


def test_the_staff_form_without_a_csrf_token_is_refused(admin_client, session):
    before = user_count(session)
    response = admin_client.post("/admin/users", data={"full_name": "X", "email": "x@clinic.example.org",
                                                       "role": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert user_count(session) == before


def admin_token(client, make) -> str:
    admin = make.user(Role.ADMIN)
    return client.post("/api/v1/auth/tokens", json={"email": admin.email, "password": PASSWORD}).json["token"]


def test_the_api_creates_a_staff_account(client, make, session):
    token = admin_token(client, make)
    response = client.post("/api/v1/users", headers={"Authorization": f"Bearer {token}"}, json={
        "email": "ivy@clinic.example.org", "full_name": "Ivy Stone", "role": "compliance",
        "password": PASSWORD})
    assert response.status_code == 201 and response.json["role"] == "compliance"
    assert "password" not in response.json


@pytest.mark.parametrize("body,field", [
    ({"role": "overlord"}, "role"),
    ({"email": "nope"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"password": "weak"}, "password"),
    ({"full_name": ""}, "full_name"),
])
def test_bad_api_input_gets_field_errors_and_writes_nothing(client, make, session, body, field):
    token = admin_token(client, make)
    before = user_count(session)
    payload = {"email": "ivy@clinic.example.org", "full_name": "Ivy Stone", "role": "compliance",
               "password": PASSWORD, **body}
    response = client.post("/api/v1/users", headers={"Authorization": f"Bearer {token}"}, json=payload)
    assert response.status_code == 422
    assert field in response.json["errors"]
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert user_count(session) == before


def test_a_non_admin_token_cannot_create_accounts(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    token = client.post("/api/v1/auth/tokens", json={"email": prescriber.email, "password": PASSWORD}).json["token"]
    response = client.post("/api/v1/users", headers={"Authorization": f"Bearer {token}"}, json={
        "email": "ivy@clinic.example.org", "full_name": "Ivy", "role": "admin", "password": PASSWORD})
    assert response.status_code == 403
    session.expire_all()
    assert session.scalar(sa.select(AuditEvent).where(
        AuditEvent.action == AuditAction.ACCESS_REFUSED.value)).actor_user_id == prescriber.id


def test_the_cli_creates_a_staff_account(app, session):
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "--email", "Lee@Clinic.Example.org", "--name", "Lee Park", "--role", "pharmacist",
        "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalar(sa.select(User.role).where(User.email == "lee@clinic.example.org")) is Role.PHARMACIST


def test_the_cli_explains_bad_input(app, session):
    result = app.test_cli_runner().invoke(args=[
        "users", "create", "--email", "lee", "--name", "Lee Park", "--role", "janitor", "--password", "x"])
    assert result.exit_code != 0
    assert "email" in result.output and "role" in result.output and "password" in result.output
    assert user_count(session) == 0


def test_the_cli_puts_a_prescriber_on_call_with_hours_that_cross_midnight(app, make, session):
    from datetime import time
    prescriber = make.user(Role.PRESCRIBER)
    result = app.test_cli_runner().invoke(args=["users", "on-call", prescriber.email, "--hours", "18:00-08:00"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    user = session.get(User, prescriber.id)
    assert user.on_call and (user.on_call_from, user.on_call_until) == (time(18, 0), time(8, 0))
    assert session.scalar(sa.select(AuditEvent.action).where(AuditEvent.object_id == str(user.id))
                          .order_by(AuditEvent.id.desc())) == "user.on_call_changed"


def test_only_prescribers_go_on_call_and_hours_must_parse(app, make, session):
    pharmacist = make.user(Role.PHARMACIST)
    assert app.test_cli_runner().invoke(args=["users", "on-call", pharmacist.email]).exit_code != 0
    prescriber = make.user(Role.PRESCRIBER)
    result = app.test_cli_runner().invoke(args=["users", "on-call", prescriber.email, "--hours", "evenings"])
    assert result.exit_code != 0 and "HH:MM-HH:MM" in result.output
    session.expire_all()
    assert session.get(User, prescriber.id).on_call is False
