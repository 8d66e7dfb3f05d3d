"""The dashboard answers at `/` of the server `blueplane up` runs, in a real browser, without errors."""

import pytest

from tests.support.browser import page_open, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_every_page_loads_in_chromium_without_console_errors(system, browser) -> None:
    page = page_open(browser)
    for path in ["/", "/sessions/", "/tools/", "/projects/", "/pipeline/"]:
        answer = page.goto(system.url + path)
        assert answer is not None and answer.status == 200, path
        page.wait_for_load_state("networkidle")
    screenshot(page, "smoke-pipeline")
    assert page.console_seen.errors == []
