"""Headless Debian Chromium for the browser tests (Playwright drives /usr/bin/chromium; no download)."""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"

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
