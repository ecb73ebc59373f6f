"""Headless Debian chromium driven by Playwright, with every request that would leave the machine blocked."""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.http_gateway.gateway_process import GatewayProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (`make browser`); Playwright's own browser download needs the internet.

    Module scope, not session: Playwright's sync API keeps an event loop running in the main thread while
    it is open, and every asyncio test that pytest runs after it would fail to start its own.
    """
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """$HEARTH_SCREENSHOT_DIR when set (to keep them), else a pytest temporary folder."""
    wanted = os.environ.get("HEARTH_SCREENSHOT_DIR")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Playground:
    """The page loaded from the gateway, and every request it tried to send off the machine."""

    page: Page
    screenshot_dir: Path
    outside_requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        path = self.screenshot_dir / f"{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


@pytest.fixture
def playground(browser: Browser, gateway: GatewayProcess, screenshot_dir: Path) -> Iterator[Playground]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    playground = Playground(context.new_page(), screenshot_dir)

    def local_only(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            playground.outside_requests.append(url)
            route.abort()

    context.route("**/*", local_only)
    playground.page.goto(gateway.url + "/")
    try:
        yield playground
    finally:
        context.close()
