"""`blueplane report ledger`, and the provenance the other reports show (`usage --by source`, the note
under a usage table, `sources` in ccusage's reports, `analyze`, `tools`), over the rows the slow path
writes for a session whose API calls came from every source (tests/factories.otel_rows)."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from blueplane import cli
from blueplane.cli import report as report_cli
from telemetry.selectors import ccusage, ccusage_readonly
from tests.factories import OTEL_DAY, OTEL_PROJECT, OTEL_SESSION, otel_rows

pytestmark = pytest.mark.django_db

DAY = OTEL_DAY.date().isoformat()
SPAN = ["--since", DAY, "--until", DAY, "--tz", "UTC"]


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ledger_table_shows_every_figure(capsys):
    otel_rows()
    code, out, err = run(capsys, "report", "ledger", *SPAN)
    assert code == 0 and not err
    for text in (
        "both (agree)", "transcript only", "OTel only", "conflict",  # the four sources
        "0.0914",  # the OTel-only call's cost (Blueplane's price)
        "OTel api_request events", "OTel token/cost metrics", "0.115988", "-0.000012", "0.1210",
        "req_conflict", "301",  # both readings of the conflict
        "API calls (request_id): both (agree) 1, transcript only 1, OTel only 1, conflict 1",
        "in OTel 2 (with hooks 2, OTel only 0), not in OTel 1",
        "prompts (prompt.id): 2; in OTel 1",
        "possible loss: 1 OTel records missing",
        "active time: Claude Code 24 s, Blueplane 420 s",
        "lines of code: OTel +30 -2, Blueplane +30 -2",
        "edit decisions: OTel 11 accepted, 0 rejected",
        "API errors 1, retries 2",
        "user_reject", "config",
    ):  # fmt: skip
        assert text in out, text


def test_ledger_json_is_the_apis_answer(client, capsys):
    otel_rows()
    code, out, _ = run(capsys, "report", "ledger", *SPAN, "--json")
    assert code == 0
    ours = json.loads(out)
    theirs = client.get("/api/v1/ledger/", {"since": DAY, "until": DAY, "tz": "UTC"}).json()
    assert ours == theirs
    assert ours["otel"] is True
    assert ours["sources"]["otel"]["messages"] == 1
    assert ours["conflicts"][0]["otel"]["cost_usd"] == pytest.approx(0.004605)
    [compared] = ours["compared"]
    assert compared["events_difference"]["output_tokens"] == 1  # the conflict's extra token
    assert compared["metrics_difference"]["cost_usd"] == pytest.approx(0.115988 - 0.1160)


def test_ledger_by_project_and_without_otel(capsys):
    otel_rows()
    code, out, _ = run(capsys, "report", "ledger", *SPAN, "--project", OTEL_PROJECT[1])
    assert code == 0 and "OTel only" in out
    later = (OTEL_DAY + timedelta(days=3)).date().isoformat()
    code, out, _ = run(capsys, "report", "ledger", "--since", later, "--until", later, "--tz", "UTC")
    assert code == 0
    assert out.splitlines()[1].startswith("no OpenTelemetry data in this period")
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--tz", "Nowhere/Else"], 2, "time zone"),
        (["--project", "no-such-project"], 2, "unknown project"),
        (["--since", "2026-11-27", "--until", "2026-11-26"], 1, "is after"),
        (["--project", "x" * 1_000_000], 2, "unknown project"),
    ],
)
def test_ledger_bad_arguments_are_one_line(capsys, argv, code, message):
    otel_rows()
    found, out, err = run(capsys, "report", "ledger", *argv)
    assert found == code and not out
    assert len(err.strip().splitlines()) == 1 and message in err and len(err) < 400


@pytest.mark.parametrize("day", ["0000-01-01", "2026-13-01", "x" * 100_000])
def test_ledger_bad_dates_are_argparses(capsys, day):
    with pytest.raises(SystemExit) as exit:
        cli.main(["report", "ledger", "--since", day])
    assert exit.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_ledger_takes_the_calendars_ends(capsys):
    otel_rows()
    code, out, _ = run(
        capsys, "report", "ledger", "--since", "0001-01-01", "--until", "9999-12-31", "--tz", "UTC"
    )
    assert code == 0 and "OTel only" in out


def test_usage_by_source_and_the_note(capsys):
    otel_rows()
    code, out, _ = run(capsys, "usage", "--by", "source", *SPAN, "--json")
    rows = {r["source"]: r for r in json.loads(out)}
    assert set(rows) == {"both", "transcript", "otel", "conflict"}
    assert rows["conflict"]["output_tokens"] == 300 and rows["otel"]["cost_usd"] == pytest.approx(0.0914)
    code, out, _ = run(capsys, "usage", *SPAN)
    assert code == 0
    assert (
        "includes 1 API call only OpenTelemetry saw ($0.0914); 1 call where transcript and OTel disagree: "
        "blueplane report ledger"
    ) in out


def test_ccusage_reports_carry_sources_either_way():
    otel_rows()
    connection.ensure_connection()
    args = {"start": OTEL_DAY.date(), "end": OTEL_DAY.date(), "tz": "UTC", "period": "day"}
    ours = ccusage.ccusage_periods(**args)
    assert ccusage_readonly.ccusage_periods(connection.connection, **args) == ours
    assert list(ours["sources"]) == ["both", "transcript", "otel", "conflict"]
    assert ours["sources"]["otel"]["messages"] == 1 and ours["totals"]["outputTokens"] == 649
    sessions = {"start": OTEL_DAY, "end": OTEL_DAY + timedelta(days=1)}
    found = ccusage.ccusage_sessions(**sessions)
    assert ccusage_readonly.ccusage_sessions(connection.connection, **sessions) == found
    assert found["sources"]["conflict"]["outputTokens"] == 300


def test_a_daily_table_says_what_only_otel_saw(capsys):
    otel_rows()
    found = ccusage.ccusage_periods(start=OTEL_DAY.date(), end=OTEL_DAY.date(), tz="UTC", period="day")
    report_cli._print(found, period="day", span=DAY, tz="UTC", breakdown=False)
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == (
        "includes 1 API call only OpenTelemetry saw ($0.0914); 1 call where transcript and OTel disagree: "
        "blueplane report ledger"
    )


def test_a_transcript_only_span_has_no_sources(capsys):
    from telemetry.models import UsageHour

    project = otel_rows().project
    later = datetime(2030, 1, 1, 10, tzinfo=UTC)
    for source in ("transcript", ""):  # "": a row from before OpenTelemetry
        UsageHour.objects.create(hour=later, platform="claude_code", project=project, model="m", source=source, messages=1,
                                 output_tokens=5)  # fmt: skip
    found = ccusage.ccusage_periods(start=later.date(), end=later.date(), tz="UTC", period="day")
    assert "sources" not in found and found["totals"]["outputTokens"] == 10
    _, out, _ = run(capsys, "usage", "--since", "2030-01-01", "--until", "2030-01-01", "--tz", "UTC")
    assert "OpenTelemetry" not in out


def test_analyze_shows_the_sessions_provenance(capsys):
    otel_rows()
    code, out, _ = run(capsys, "analyze", OTEL_SESSION, "--tz", "UTC", "--timeline", "100")
    assert code == 0
    for text in (
        "API calls by source: both (agree) 1, transcript only 1, OTel only 1, conflict 1",
        "2 API retries", "OpenTelemetry: active 23.9 s (Blueplane 420 s), lines +30 -2 (Blueplane +30 -2), "
        "edits 11 accepted 0 rejected", "possible loss: 1 OpenTelemetry records missing",
        "529", "req_conflict", "Tool decisions", "reject by user_reject", "accept by config", "OTel only",
    ):  # fmt: skip
        assert text in out, text
    code, out, _ = run(capsys, "analyze", OTEL_SESSION, "--json")
    found = json.loads(out)
    assert found["provenance"]["api_calls"] == {"both": 1, "transcript": 1, "otel": 1, "conflict": 1}
    assert found["api_errors"][0]["attempts"] == 3 and found["session"]["api_retries"] == 2
    assert found["session"]["otel_active_seconds"] == pytest.approx(23.852)


def test_tools_shows_decisions_by_who_decided(capsys):
    otel_rows()
    code, out, _ = run(capsys, "tools", *SPAN)
    assert code == 0 and "Tool decisions (OpenTelemetry), by who decided" in out
    assert "user_reject" in out and "config" in out
