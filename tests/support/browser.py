"""Real headless Chromium for the dashboard's tests: Debian's `chromium` package, driven by Playwright for
Python through `executable_path` (Playwright never downloads a browser here).

When /usr/bin/chromium is missing the test set-up installs it with apt-get (as root, or through sudo).
When it cannot, the browser tests skip, unless BLUEPLANE_TEST_BROWSER=required (CI sets it), where they
fail. Screenshots go to tests/artifacts/ (BLUEPLANE_TEST_ARTIFACTS overrides; not committed)."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.debian import apt_install

CHROMIUM = Path(os.environ.get("BLUEPLANE_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(
    os.environ.get("BLUEPLANE_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts")
)
# What the machine allows: no sandbox as root, no GPU, and none of Chromium's calls home (this machine's
# closed network refuses them, many at a time, at every start).
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
LAPTOP = {"width": 1366, "height": 768}
DESKTOP = {"width": 1920, "height": 1080}
NARROW = {"width": 420, "height": 860}


def _install() -> str | None:
    """Install Debian's chromium; None when done, else why not."""
    why = apt_install("chromium")
    return why or (None if CHROMIUM.exists() else f"apt-get installed chromium, but {CHROMIUM} is missing")


def chromium_or_skip() -> Path:
    why = None if CHROMIUM.exists() else _install()
    if why is not None:
        message = f"no headless Chromium ({CHROMIUM}): {why}"
        if os.environ.get("BLUEPLANE_TEST_BROWSER") == "required":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@dataclass
class Console:
    """What a page said on its console and its uncaught errors."""

    errors: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


@contextmanager
def browser_launched() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def page_open(browser, *, viewport: dict = LAPTOP, timezone_id: str | None = None):
    """A new page in a fresh context (no cookies), with its console collected on page.console_seen."""
    context = browser.new_context(viewport=viewport, timezone_id=timezone_id)
    page = context.new_page()
    console = Console()
    page.on("console", lambda m: (console.errors if m.type == "error" else console.messages).append(m.text))
    page.on("pageerror", lambda e: console.errors.append(str(e)))
    page.console_seen = console
    return page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
