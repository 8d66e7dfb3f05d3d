"""`blueplane report blocks` run as a user runs it, against stores filled by the real pipeline: its JSON
is ccusage's (the repository's corpus, and hand-made transcripts probing the blocks' edges), without
Django; bad input is one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ccusage import assert_ccusage_equal
from tests.support.stores import ROOT, store_build, store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"
FIXTURES = ROOT / "tests" / "fixtures"
HAND_MADE = FIXTURES / "claude-blocks"


@pytest.fixture(scope="module")
def blocks_home(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose store holds the hand-made transcripts of tests/fixtures/claude-blocks/."""
    return store_build(tmp_path_factory.mktemp("blocks-home"), redis_server, HAND_MADE / "projects")


def blocks(home: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**store_env(home, redis_url), "TZ": "UTC"}
    return subprocess.run([str(BLUEPLANE), "report", "blocks", *args], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_json_equals_ccusage_on_the_corpus(corpus_home: Path, redis_server: str):
    result = blocks(corpus_home, redis_server, "--json")
    assert result.returncode == 0, result.stderr
    theirs = json.loads((FIXTURES / "claude-real" / "ccusage" / "blocks.json").read_text())
    assert_ccusage_equal(json.loads(result.stdout), theirs)


def test_json_equals_ccusage_at_the_edges_of_blocks(blocks_home: Path, redis_server: str):
    result = blocks(blocks_home, redis_server, "--json")
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout)
    assert_ccusage_equal(ours, json.loads((HAND_MADE / "blocks.json").read_text()))
    assert sum(b["isGap"] for b in ours["blocks"]) == 3


def test_filters_and_order(blocks_home: Path, redis_server: str):
    def ids(*args: str) -> list[str]:
        result = blocks(blocks_home, redis_server, "--json", *args)
        assert result.returncode == 0, result.stderr
        return [b["id"] for b in json.loads(result.stdout)["blocks"]]

    assert ids("--since", "20260102", "--until", "2026-01-02") == [
        "2026-01-02T09:00:00.000Z", "2026-01-02T14:00:00.000Z", "2026-01-02T19:00:00.000Z",
        "gap-2026-01-02T19:30:00.000Z"]  # fmt: skip
    # In Tokyo (UTC+9) the second block, 15:00 UTC, starts at midnight of 2 January.
    assert ids("-z", "Asia/Tokyo", "--until", "20260101") == ["2026-01-01T10:00:00.000Z"]
    assert ids("--order", "desc")[0] == "2026-01-03T23:00:00.000Z"
    assert ids("--active") == [] and ids("--recent") == []
    beta = blocks(blocks_home, redis_server, "--json", "--project", "beta")
    models = {m for b in json.loads(beta.stdout)["blocks"] for m in b["models"]}
    assert models == {"claude-opus-4-5-20251101"}


def test_table_has_totals_and_no_django(blocks_home: Path, redis_server: str):
    code = ("import sys; from blueplane.cli import main; code = main(['report', 'blocks']); "
            "assert 'django' not in sys.modules, 'django imported'; sys.exit(code)")  # fmt: skip
    env = {**store_env(blocks_home, redis_server), "TZ": "UTC", "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "gap until 2026-01-02 09:30" in result.stdout
    total = next(line for line in result.stdout.splitlines() if line.startswith("total"))
    assert "100,690" in total  # ccusage's totalTokens of every block, summed


@pytest.mark.parametrize(
    "args",
    [["--since", "2026-13-01"], ["--until", "99999999"], ["--since", "x" * 100_000], ["-z", "Mars/Olympus_Mons"],
     ["-z", "../../etc/passwd"], ["--token-limit", "lots"], ["--token-limit", str(2**64)], ["--order", "up"],
     ["--session-length", "0"], ["--session-length", "nan"], ["--bogus"], ["--project", "nope"],
     ["--since", "20260105", "--until", "20260101"]],
    ids=["month-13", "year-99999", "megabyte-date", "unknown-zone", "zone-path", "limit-word", "limit-past-64-bits",
         "order", "length-zero", "length-nan", "unknown-option", "unknown-project", "reversed"],
)  # fmt: skip
def test_bad_input_is_one_line(blocks_home: Path, redis_server: str, args: list[str]):
    result = blocks(blocks_home, redis_server, *args)
    assert result.returncode != 0
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("blueplane") and "Traceback" not in result.stderr


def test_no_store_is_one_line(tmp_path: Path, redis_server: str):
    result = blocks(tmp_path, redis_server, "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("blueplane: no data yet") and len(result.stderr.splitlines()) == 1


def test_edges_of_the_calendar_are_dates_like_any_other(blocks_home: Path, redis_server: str):
    result = blocks(blocks_home, redis_server, "--json", "--since", "00010101", "--until", "99991231",
                    "-z", "Pacific/Kiritimati")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["blocks"]) == 9
