"""The slow path's watermark with several fast-path writers on PostgreSQL (store/horizon.py): a row whose
seq is lower than one already read, committed later, is still derived, exactly once."""

import json

import pytest

from tests.support.postgres import database, needs_postgres
from tests.test_postgres import manage

pytestmark = [pytest.mark.e2e, needs_postgres]


def test_a_lower_seq_committed_late_is_not_skipped():
    with database(migrated=True) as (url, _):
        ran = manage(url, "shell", "-c", "from tests.support.pg_horizon import main; main()")
        assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])

    # The race is real: the writer that committed last holds the lower seq.
    without = result["without"]
    assert without["a_seq"] < without["b_seq"]
    # Trusting seq order, the watermark passes A's row before it commits, and it is never derived.
    assert without["applied"] == [1, 0]
    assert without["watermark"] == without["b_seq"] and without["calls"] == 1

    # With the horizon, the catch-up waits for the writer in flight, then derives both events once.
    got = result["with"]
    assert got["a_seq"] < got["b_seq"]
    assert got["waited_for_writer"] and not got["done_before_release"]
    assert got["applied"] == [2, 0]
    assert got["watermark"] == got["b_seq"] and got["calls"] == 2

    # A writer stalled inside its transaction holds the slow path back, as a fault of the machine.
    assert result["stalled"] == {"raised": "OperationalError", "machine_fault": True}
