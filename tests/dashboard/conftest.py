"""The dashboard's fixtures: one whole install filled from the repository's transcripts by the real
pipeline (shared by every browser test in a worker: it takes ~a minute to start and fill), and one
headless Chromium."""

from collections.abc import Iterator

import pytest

from tests.support.browser import browser_launched
from tests.support.system import Install, system_up


@pytest.fixture(scope="session")
def system() -> Iterator[Install]:
    with system_up() as install:
        yield install


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with browser_launched() as launched:
        yield launched
