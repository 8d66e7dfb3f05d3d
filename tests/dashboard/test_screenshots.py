"""The README's screenshots: every dashboard page at laptop size (1366x768, the viewport, not the whole
page) against an install filled from the repository's transcripts, saved under tests/artifacts/screens/.
To refresh the README's, run this test and copy them into docs/screenshots/."""

import json
import struct
import urllib.request

import pytest

from tests.support.browser import ARTIFACTS, LAPTOP, page_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SCREENS = ARTIFACTS / "screens"
# The corpus is dated in the past: the whole span, in one zone, so the pictures do not depend on the day.
QUERY = "?period=all&tz=UTC"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def busiest_session(url: str) -> str:
    with urllib.request.urlopen(url + "/api/v1/sessions/?page_size=50", timeout=30) as response:
        sessions = json.loads(response.read())["results"]
    return max(sessions, key=lambda s: s.get("tool_calls") or 0)["session_id"]


def test_every_page_at_laptop_size(system, browser) -> None:
    paths = {
        "overview": "/",
        "sessions": "/sessions/",
        "session": f"/sessions/{busiest_session(system.url)}/",
        "tools": "/tools/",
        "projects": "/projects/",
        "pipeline": "/pipeline/",
    }
    SCREENS.mkdir(parents=True, exist_ok=True)
    page = page_open(browser, viewport=LAPTOP, timezone_id="UTC")
    for name, path in paths.items():
        answer = page.goto(system.url + path + QUERY)
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1500)  # the live snapshot drawn and the "changed" flash faded: a still picture
        target = SCREENS / f"{name}.png"
        page.screenshot(path=str(target), full_page=False)
        assert png_size(target.read_bytes()) == (LAPTOP["width"], LAPTOP["height"])
    assert page.console_seen.errors == []
