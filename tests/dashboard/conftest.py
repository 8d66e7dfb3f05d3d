"""The dashboard's fixtures: one whole install filled from the repository's transcripts by the real
pipeline (shared by every browser test in a worker: it takes a while to start and fill), and a headless
Chromium per test module."""

from collections.abc import Iterator

import pytest

from tests.support.browser import browser_launched
from tests.support.system import Install, system_up


@pytest.fixture(scope="session")
def system() -> Iterator[Install]:
    with system_up() as install:
        yield install


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread while a
# browser is open, and a later test of another module that calls asyncio.run() in the same worker would
# fail ("cannot be called from a running event loop"). pytest closes a module's fixtures before the next
# module's first test.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with browser_launched() as launched:
        yield launched
