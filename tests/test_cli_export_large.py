"""`blueplane export` of a table far larger than memory should hold: written a piece at a time. Alone in
its module, since its module-scoped data is one long transaction (tests/api/test_export_large.py)."""

import tracemalloc

import pytest

from blueplane.cli import main
from tests.api.test_export_large import many_turns  # noqa: F401 (a fixture)
from tests.test_cli_export import SPAN


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["md", "jsonl"])
def test_a_large_export_is_written_in_bounded_memory(many_turns, tmp_path, fmt):  # noqa: F811 (the fixture)
    out = tmp_path / f"turns.{fmt}"
    tracemalloc.start()
    try:
        assert main(["export", *SPAN, "--format", fmt, "--table", "turns", "-o", str(out)]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = out.stat().st_size
    assert size > 5 * 2**20
    # The table passed through whole, but at no moment was more than a fraction of it in memory.
    assert peak < size / 3, (peak, size)
    lines = out.read_text().splitlines()
    assert len(lines) == many_turns + (2 if fmt == "md" else 0)
    assert "bulk:39999" in lines[-1]
