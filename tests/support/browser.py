"""Headless Debian Chromium for the browser tests (Playwright drives /usr/bin/chromium; no download)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
BRAND_HOST = "brand-a.localhost"
# Screenshots are test artefacts: .artifacts/screenshots/ by default (git-ignored);
# `make screenshots` writes them into docs/crm-guide/ for the CRM guide.
SCREENSHOT_DIR = Path(os.environ.get("BROWSER_TEST_SCREENSHOTS", ".artifacts/screenshots"))

# CI installs Chromium (scripts/install_browser.sh) and sets REQUIRE_BROWSER=1, so there a missing
# browser fails instead of skipping; a bare developer machine skips with the reason.
requires_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("REQUIRE_BROWSER"),
        reason=f"{CHROMIUM} is absent (scripts/install_browser.sh)",
    ),
]


def launch_chromium(playwright, *, host: str):
    """Chromium as this machine allows it: no sandbox as root, no background network, `host` → 127.0.0.1."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--host-resolver-rules=MAP {host} 127.0.0.1",
        ],
    )


def save_screenshot(page, name: str) -> Path:
    """A full-page PNG `name`.png under SCREENSHOT_DIR (the CRM guide links these names)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def admin_login(page, base_url: str, *, username: str, password: str, next_path: str = "/admin/") -> None:
    """Log into the brand admin through its login form and land on `next_path`."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}*")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def live_app(db) -> Iterator[str]:
    """The real WSGI application on 127.0.0.1:<free port>, in a thread; yields brand-a's base URL.

    Not pytest-django's `live_server`: it needs transactional_db, whose flush would empty the public
    schema. Rows the browser needs are committed up front (tests/support/committed.py) and removed after.
    """
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_QuietHandler)

    def serve() -> None:
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            connections.close_all()  # this thread's database connection

    thread = threading.Thread(target=serve, name="browser-test-wsgi", daemon=True)
    thread.start()
    try:
        yield f"http://{BRAND_HOST}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def chromium_page(live_app) -> Iterator:
    """A fresh page in headless Chromium that resolves brand-a.localhost to 127.0.0.1."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, host=BRAND_HOST)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()
