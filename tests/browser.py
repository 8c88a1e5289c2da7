"""Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


@contextmanager
def browser_page() -> Iterator[Any]:
    require_chromium()
    from django.db import connections
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    outer = list(connections.all(initialized_only=True))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            yield page
        finally:
            browser.close()
            # Inside Playwright's sync API the code runs in another context, so Django hands it other
            # connection objects: close them, or they outlive the test and keep the test database from
            # being dropped at the end of the session.
            for conn in connections.all(initialized_only=True):
                if not any(conn is o for o in outer):
                    conn.close()


def admin_login(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#user-tools")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
