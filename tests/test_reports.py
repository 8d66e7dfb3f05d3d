"""`blueplane usage` and `blueplane tools` over the real fixture corpus: the numbers users check first."""

import json
from pathlib import Path

import pytest

from blueplane import cli

pytestmark = pytest.mark.django_db
PROJECTS = Path(__file__).parent / "fixtures" / "claude-real" / "projects"
SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
# tests/fixtures/claude-real/README.md: what ccusage reports for the corpus.
REFERENCE = {
    "claude-sonnet-4-5-20250929": (301, 1254, 446193, 569663, "1.8843"),
    "claude-opus-4-5-20251101": (61, 367, 111371, 132455, "0.7843"),
    "claude-opus-4-1-20250805": (4, 28, 21942, 0, "0.4136"),
    "claude-haiku-4-5-20251001": (48, 109, 112669, 47201, "0.1468"),
    "total": (414, 1758, 692175, 749319, "3.2290"),
}


def run(capsys, *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


def test_usage_by_model_matches_ccusage(corpus, capsys):
    out = run(capsys, "usage", "--by", "model", *SPAN)
    for name, (inp, outp, write, read, cost) in REFERENCE.items():
        (line,) = [line for line in out.splitlines() if line.startswith(name + " ")]
        assert line.split()[2:] == [f"{inp:,}", f"{outp:,}", f"{write:,}", f"{read:,}", cost], line
    assert "prices: claude-prices@" in out


def test_usage_json_by_day_sums_to_the_total(corpus, capsys):
    rows = json.loads(run(capsys, "usage", "--by", "day", "--json", *SPAN))
    assert sum(r["output_tokens"] for r in rows) == 1758
    assert all(r["day"].startswith("2026-11-") for r in rows)


def test_usage_by_session_lists_sessions(corpus, capsys):
    rows = json.loads(run(capsys, "usage", "--by", "session", "--json", *SPAN))
    assert len(rows) >= 19
    assert sum(r["output_tokens"] for r in rows) == 1758


def test_tools_report_counts_failures(corpus, capsys):
    rows = json.loads(run(capsys, "tools", "--json", *SPAN))
    assert sum(r["calls"] for r in rows) > 40
    assert sum(r["failures"] for r in rows) == 4
    assert sum(r["rejections"] for r in rows) == 2


@pytest.mark.parametrize("limit", [str(2**63), str(2**70)])
def test_a_limit_past_64_bits_lists_everything(corpus, capsys, limit):
    rows = json.loads(run(capsys, "usage", "--by", "session", "--limit", limit, "--json", *SPAN))
    assert sum(r["output_tokens"] for r in rows) == 1758


def test_unknown_time_zone_is_one_line(capsys):
    assert cli.main(["usage", "--tz", "Mars/Olympus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown time zone" in err


@pytest.mark.parametrize("argv", [["usage", "--by", "session", "--limit", "-1"], ["tools", "--days", "0"]])
def test_non_positive_counts_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "must be a whole number of at least 1" in err and "Traceback" not in err


@pytest.mark.parametrize("tz", ["UTC", "Asia/Tokyo", "Pacific/Kiritimati", "America/Adak"])
def test_the_whole_calendar_is_a_span_like_any_other(corpus, capsys, tz):
    whole = ["--since", "0001-01-01", "--until", "9999-12-31", "--tz", tz, "--json"]
    assert sum(r["output_tokens"] for r in json.loads(run(capsys, "usage", "--by", "day", *whole))) == 1758
    assert (
        sum(r["output_tokens"] for r in json.loads(run(capsys, "usage", "--by", "session", *whole))) == 1758
    )
    assert sum(r["failures"] for r in json.loads(run(capsys, "tools", *whole))) == 4
    # More days than the calendar holds before --until: from its first day.
    rows = json.loads(
        run(capsys, "usage", "--days", str(10**20), "--until", "9999-12-31", "--tz", tz, "--json")
    )
    assert sum(r["output_tokens"] for r in rows) == 1758
