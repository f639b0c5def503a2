"""One JSON error shape for the API, friendly pages for the browser, never a stack trace."""
import pytest
from flask import Blueprint

from telehealth.accounts.models import Role
from telehealth.app import create_app
from telehealth.db import database
from tests.conftest import log_in

SHAPE = {"code", "status", "message", "errors"}


def test_an_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404 and set(response.json) == SHAPE


def test_a_wrong_method_on_the_api_is_a_json_405_with_allow(client):
    response = client.put("/api/v1/auth/tokens", json={})
    assert response.status_code == 405 and set(response.json) == SHAPE
    assert "POST" in response.headers["Allow"]


def test_an_unknown_page_is_a_friendly_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.content_type.startswith("text/html")
    assert "Back to the start page" in response.get_data(as_text=True)


def test_the_openapi_document_lists_the_api(client):
    document = client.get("/api/openapi.json").json
    assert "/api/v1/auth/tokens" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.fixture
def crashing_client(database_url):
    """A fresh app with routes that raise (an app that has served requests takes no new routes)."""
    app = create_app("testing", overrides={"DATABASE_URL": database_url})
    crash = Blueprint("crash", __name__)

    @crash.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    @crash.get("/boom")
    def boom_page():
        raise RuntimeError("secret internal detail")

    app.register_blueprint(crash)
    yield app.test_client()
    database(app).engine.dispose()


def test_a_crash_gives_no_stack_trace_to_api_or_browser(crashing_client):
    for path in ("/api/v1/boom", "/boom"):
        response = crashing_client.get(path)
        assert response.status_code == 500
        body = response.get_data(as_text=True)
        assert "secret internal detail" not in body and "Traceback" not in body
    assert set(crashing_client.get("/api/v1/boom").json) == SHAPE


def test_pages_carry_security_headers(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_health_check_answers(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_a_logged_in_user_sees_their_name_and_a_logout_button(client, make):
    user = make.user(Role.PHARMACIST, name="Quinn Baker")
    log_in(client, user.email)
    page = client.get("/account").get_data(as_text=True)
    assert "Quinn Baker" in page and "Log out" in page
