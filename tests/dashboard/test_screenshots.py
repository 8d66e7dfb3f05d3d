"""The README's screenshots: every dashboard page at laptop size (1366x768, the viewport, not the whole
page), saved under tests/artifacts/screens/. To refresh the README's, run this test and copy them into
docs/screenshots/.

The install is the test's own, filled by the real pipeline from shifted copies of the repository's
transcripts (tests/support/shifted.py), one a day over the last DAYS days up to today, each with a
different part of the projects, so the charts have days to draw and the days differ."""

import json
import struct
import time
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, LAPTOP, page_open
from tests.support.shifted import corpus_copies
from tests.support.system import CLAUDE_PROJECTS, Install, system_up

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

SCREENS = ARTIFACTS / "screens"
DAYS = 12
QUERY = "?period=all&tz=UTC"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def busiest_session(url: str) -> str:
    """The newest session with the most to show: tool calls, prompts and failures."""
    with urllib.request.urlopen(url + "/api/v1/sessions/?page_size=100", timeout=30) as response:
        sessions = json.loads(response.read())["results"]

    def weight(s: dict) -> int:
        return (s.get("tool_calls") or 0) + 2 * (s.get("prompts") or 0) + 3 * (s.get("tool_failures") or 0)

    return max(sessions, key=weight)["session_id"]


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


def corpus_days(dest: Path) -> Path:
    """Copies of the transcripts, copy k moved so that the last lands today, with about two thirds of the
    projects each (which, by a hash of the copy and the project's folder)."""
    first = datetime(2026, 11, 25, tzinfo=UTC).date()  # the transcripts' day
    start = (datetime.now(UTC).date() - first).days - (DAYS - 1)

    def only(k: int, path: Path) -> bool:
        return zlib.crc32(f"{k}:{path.parts[0]}".encode()) % 3 != 0

    tree = dest / "projects"
    # Copy k is moved k days; the first DAYS - 1 + start copies before `start` are left out entirely.
    corpus_copies(CLAUDE_PROJECTS, tree, start + DAYS, only=lambda k, p: k >= start and only(k, p))
    return tree


@pytest.fixture(scope="module")
def days_install(tmp_path_factory) -> Iterator[Install]:
    with system_up(corpus_days(tmp_path_factory.mktemp("screens"))) as install:
        yield install


def test_every_page_at_laptop_size(days_install, browser) -> None:
    system = days_install
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
