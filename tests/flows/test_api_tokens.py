"""Bearer tokens for /api/v1: issued from credentials or the CLI, stored hashed, revocable."""
import hashlib
import sqlalchemy as sa

from telehealth.accounts.models import ApiToken, Role
from telehealth.audit.models import AuditAction, AuditEvent
from tests.conftest import PASSWORD


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(client, email: str, password: str = PASSWORD, **extra):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password, **extra})


def test_credentials_buy_a_token_that_works(client, make, session):
    prescriber = make.user(Role.PRESCRIBER)
    response = issue(client, prescriber.email, name="reporting script")
    assert response.status_code == 201
    token = response.json["token"]
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200 and me.json["email"] == prescriber.email and me.json["role"] == "prescriber"
    stored = session.scalar(sa.select(ApiToken))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert stored.name == "reporting script"


def test_a_revoked_token_no_longer_works(client, make, session):
    token = issue(client, make.user(Role.PRESCRIBER).email).json["token"]
    assert client.delete("/api/v1/auth/tokens/current", headers=bearer(token)).status_code == 204
    response = client.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["message"] == "The token is unknown, expired or revoked."
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                          .where(AuditEvent.action == AuditAction.API_TOKEN_REVOKED.value)) == 1


def test_a_token_expires_after_its_lifetime(client, make, clock):
    token = issue(client, make.user(Role.PRESCRIBER).email).json["token"]
    clock.advance(hours=23, minutes=59)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(minutes=1)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_a_token_of_a_deactivated_user_stops_working(client, make, session):
    user = make.user(Role.PHARMACIST)
    token = issue(client, user.email).json["token"]
    user.active = False
    session.commit()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_bad_or_missing_tokens_get_a_json_401(client):
    for headers in ({}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer "}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401
        assert set(response.json) == {"code", "status", "message", "errors"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_wrong_credentials_get_401_and_count_towards_the_lockout(client, make):
    prescriber = make.user(Role.PRESCRIBER)
    for _ in range(5):
        assert issue(client, prescriber.email, "wrong password").status_code == 401
    locked = issue(client, prescriber.email)
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0


def test_a_malformed_token_request_gets_field_errors(client):
    response = client.post("/api/v1/auth/tokens", json={"email": "", "colour": "blue"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"email", "password", "colour"}


def test_the_api_needs_no_csrf_token_because_it_takes_no_cookies(client, make):
    # A logged-in browser session does not authenticate the API: only the bearer token does.
    prescriber = make.user(Role.PRESCRIBER)
    from tests.conftest import log_in
    log_in(client, prescriber.email)
    assert client.get("/api/v1/me").status_code == 401


def test_the_cli_creates_a_token(app, make):
    prescriber = make.user(Role.PRESCRIBER)
    result = app.test_cli_runner().invoke(args=["users", "create-token", prescriber.email])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert app.test_client().get("/api/v1/me", headers=bearer(token)).json["id"] == prescriber.id


def test_the_cli_refuses_a_token_for_an_unknown_email(app, connection):
    result = app.test_cli_runner().invoke(args=["users", "create-token", "nobody@clinic.example.org"])
    assert result.exit_code != 0 and "no account" in result.output


def test_prescribers_list_their_patients_by_api(client, make):
    prescriber, other = make.user(Role.PRESCRIBER), make.user(Role.PRESCRIBER)
    mine = make.patient(prescriber)
    theirs = make.patient(other)
    token = issue(client, prescriber.email).json["token"]
    listed = client.get("/api/v1/patients", headers=bearer(token)).json
    assert [p["id"] for p in listed] == [mine.id]
    assert client.get(f"/api/v1/patients/{mine.id}", headers=bearer(token)).json["timezone"] == "America/Chicago"
    refused = client.get(f"/api/v1/patients/{theirs.id}", headers=bearer(token))
    assert refused.status_code == 404 and refused.json["code"] == 404


def test_a_patient_gets_403_from_the_patient_list_api(client, make):
    patient = make.patient(make.user(Role.PRESCRIBER))
    token = issue(client, patient.user.email).json["token"]
    response = client.get("/api/v1/patients", headers=bearer(token))
    assert response.status_code == 403 and response.json["status"] == "Forbidden"
    assert client.get(f"/api/v1/patients/{patient.id}", headers=bearer(token)).status_code == 200
