"""The live feed from a real browser (Debian's chromium through Playwright): WebSockets opened by a
dashboard page (so with this server's Origin, which the feed checks) get an event the fast path stored,
and fresh figures after the slow path's commit."""

import threading
from collections.abc import Callable, Iterator

import pytest

from telemetry import tasks
from tests.factories import envelope
from tests.live.test_server import stored
from tests.support.browser import browser_launched, page_open
from tests.support.web import Web, server_env, web_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300), pytest.mark.django_db(transaction=True)]

WAIT_MS = 30_000  # a bound on a hang, not a timing assertion

# Collect what /ws/events and /ws/metrics push, as a page's script would.
LISTEN = """() => {
  window.got = [];
  for (const path of ["/ws/events", "/ws/metrics?page=overview&period=all"]) {
    const ws = new WebSocket("ws://" + location.host + path);
    ws.onmessage = (ev) => window.got.push(JSON.parse(ev.data));
  }
}"""


@pytest.fixture(scope="module")
def web(django_db_setup, django_db_blocker, redis_server, tmp_path_factory) -> Iterator[Web]:
    with django_db_blocker.unblock():
        env = server_env(redis_server)
    with web_server(log=tmp_path_factory.mktemp("live-browser") / "web.log", env=env) as server:
        yield server


def off_the_browsers_thread(work: Callable[[], object]) -> None:
    # Playwright's sync API runs an event loop in this thread, and Django refuses database work where
    # one runs: the fast and slow path's work goes to a thread of its own.
    errors: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def test_a_browser_gets_live_events_and_figures(web: Web, redis) -> None:
    with browser_launched() as browser:
        page = page_open(browser)
        page.goto(web.url + "/")
        page.evaluate(LISTEN)
        page.wait_for_function("window.got.filter(m => m.type === 'snapshot').length === 2", timeout=WAIT_MS)
        off_the_browsers_thread(
            lambda: stored(redis, [envelope(session_id="browser", event_id="in-browser")])
        )
        page.wait_for_function(
            "window.got.some(m => m.type === 'events' && m.events.some(e => e.event_id === 'in-browser'))",
            timeout=WAIT_MS,
        )
        off_the_browsers_thread(tasks.sessions_catch_up)
        page.wait_for_function("window.got.some(m => m.type === 'figures')", timeout=WAIT_MS)
        assert page.console_seen.errors == []
