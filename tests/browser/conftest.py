"""A live server on loopback, with the demo clinic, driven by Debian's Chromium through Playwright.

The server runs in a thread on its own SQLite file (browser and server are separate clients, so
the rollback-per-test connection of the other tests does not apply here).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from telehealth import migrate
from telehealth.app import create_app
from telehealth.audit.chain import seal_pending
from telehealth.db import database, get_session
from telehealth.demo import seed
from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


@contextmanager
def serving(profile: str, database_file: Path, **overrides) -> Iterator[tuple[Flask, str]]:
    """Migrate a fresh SQLite file, load the demo clinic, and serve the app on a free loopback port."""
    url = f"sqlite:///{database_file}"
    migrate.upgrade(url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    app = create_app(profile, overrides={"DATABASE_URL": url, "PUBLIC_BASE_URL": base_url, **overrides})
    with app.app_context():
        seed(get_session(), app.extensions["account_policy"], app.config)
        get_session().commit()
        # The scheduler seals new audit events within a second; the demo's history is back-dated,
        # so seal it now rather than leave it looking overdue to `audit verify`.
        seal_pending(get_session())
        get_session().commit()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, base_url
    finally:
        server.shutdown()
        scheduler = app.extensions.get("in_process_scheduler")
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        database(app).engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    with serving("testing", tmp_path_factory.mktemp("browser") / "browser.sqlite3") as (_app, base_url):
        yield base_url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: the test command installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
