"""The README's screenshots: every dashboard page at laptop size (1366x768, the viewport, not the whole
page) against an install filled from the repository's transcripts, saved under tests/artifacts/screens/.
To refresh the README's, run this test and copy them into docs/screenshots/."""

import json
import struct
import time
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


def replayed(url: str, session_id: str, *, seconds: float) -> None:
    """Post a session's stored events again, a batch every half second for `seconds`: the fast path
    commits them (the pipeline page's rate moves) and stores nothing new (their ids are stored already),
    so no other page's figures change."""
    with urllib.request.urlopen(f"{url}/api/v1/sessions/{session_id}/events/", timeout=30) as response:
        events = [row["event"] for row in json.loads(response.read())["results"]]
    body = json.dumps(events).encode()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        request = urllib.request.Request(
            url + "/api/v1/events", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
        time.sleep(0.5)


def test_every_page_at_laptop_size(system, browser) -> None:
    session_id = busiest_session(system.url)
    paths = {
        "overview": "/",
        "sessions": "/sessions/",
        "session": f"/sessions/{session_id}/",
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
        if name == "pipeline":  # a rate chart with a line in it: traffic for a few of its 5 s steps
            replayed(system.url, session_id, seconds=22)
        page.wait_for_timeout(1500)  # the live snapshot drawn and the "changed" flash faded: a still picture
        target = SCREENS / f"{name}.png"
        page.screenshot(path=str(target), full_page=False, animations="disabled")
        assert png_size(target.read_bytes()) == (LAPTOP["width"], LAPTOP["height"])
    assert page.console_seen.errors == []
