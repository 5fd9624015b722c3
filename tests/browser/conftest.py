"""Browser tests: Debian's Chromium driven by Playwright against the whole application started by the test."""
from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import ARTIFACTS, Stack
from tests.support.accounts import Account
from tests.support.live_app import LiveApp

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ARTIFACTS / "screenshots"


@dataclass
class Site:
    """The running application and the operator who uses it."""

    live: LiveApp
    person: Account

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the REST API as a client program would, with the person's token."""
        request = urllib.request.Request(
            self.live.url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.person.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (and into SCREENSHOTS_DIR when set, e.g. docs/screenshots)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("SCREENSHOTS_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


@pytest.fixture(scope="module")
def site(stack: Stack) -> Iterator[Site]:
    live = LiveApp(stack.env, stack.log_dir / "live").start()
    try:
        yield Site(live, stack.account("operator"))
    finally:
        live.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/ensure_chromium.sh installs Debian's chromium (make test runs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def signed_in(chromium: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser context whose session cookie belongs to the signed-in operator."""
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    page = context.new_page()
    page.goto(site.live.url + "/")
    page.get_by_label("Email").fill(site.person.email)
    page.get_by_label("Password").fill(site.person.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(site.live.url + "/")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in: BrowserContext) -> Iterator[Page]:
    page = signed_in.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.close()
