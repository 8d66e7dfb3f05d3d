"""`blueplane export`: every format read back equals the API's export for the same query; a file is never
overwritten without --force nor left half-written; bad input is one line."""

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.http import StreamingHttpResponse

from blueplane.cli import main
from tests.support.stores import store_env

BLUEPLANE = Path(sys.executable).parent / "blueplane"
SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
QUERY = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}


def api(client, **params: str) -> bytes:
    response = client.get("/api/v1/export/", {**QUERY, **params})
    assert response.status_code == 200, response.content[:300]
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def export(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "out"
    assert main(["export", *SPAN, "-o", str(out), *args]) == 0
    return out


def md_rows(text: str) -> list[list[str]]:
    """A Markdown table's rows (header first), cells unescaped."""
    rows = []
    for n, line in enumerate(text.splitlines()):
        if n == 1:
            continue  # the alignment row
        cells, cell, escaped = [], "", False
        for ch in line.strip()[1:-1]:
            if escaped:
                cell, escaped = cell + ch, False
            elif ch == "\\":
                escaped = True
            elif ch == "|":
                cells.append(cell.strip())
                cell = ""
            else:
                cell += ch
        cells.append(cell.strip())
        rows.append(cells)
    return rows


@pytest.mark.django_db
class TestRoundTrip:
    def test_json_of_every_table_is_the_apis_document(self, corpus, client, tmp_path):
        document = json.loads(export(tmp_path).read_bytes())
        assert document == json.loads(api(client))
        assert len(document["sessions"]) == 21 and len(document["turns"]) == 95

    def test_json_lines_of_one_table(self, corpus, client, tmp_path):
        lines = export(tmp_path, "--format", "jsonl", "--table", "tool-calls").read_bytes()
        assert lines == api(client, format="jsonl", table="tool_calls")
        assert len(lines.splitlines()) == 42

    @pytest.mark.parametrize("table", ["sessions", "turns", "tool_calls", "code_changes"])
    def test_csv_is_the_apis_csv(self, corpus, client, tmp_path, table):
        data = export(tmp_path, "--format", "csv", "--table", table).read_bytes()
        assert data == api(client, format="csv", table=table)
        assert len(list(csv.reader(io.StringIO(data.decode())))) > 1

    @pytest.mark.parametrize("table", ["sessions", "turns", "tool_calls", "code_changes"])
    def test_markdown_holds_the_csvs_cells(self, corpus, client, tmp_path, table):
        rows = md_rows(export(tmp_path, "--format", "md", "--table", table).read_text())
        expected = list(csv.reader(io.StringIO(api(client, format="csv", table=table).decode())))
        assert rows == [[" ".join(c.split("\n")) for c in row] for row in expected]

    def test_parquet_is_the_apis_parquet(self, corpus, client, tmp_path):
        mine = pq.read_table(export(tmp_path, "--format", "parquet", "--table", "turns"))
        theirs = tmp_path / "api.parquet"
        theirs.write_bytes(api(client, format="parquet", table="turns"))
        assert mine.num_rows == 95
        assert mine.equals(pq.read_table(theirs))

    def test_project_and_platform_filter_as_the_api(self, corpus, client, tmp_path):
        key = json.loads(api(client, table="sessions"))["sessions"][0]["project_key"]
        document = json.loads(export(tmp_path, "--table", "sessions", "--project", key).read_bytes())
        assert document == json.loads(api(client, table="sessions", project=key))
        name = document["sessions"][0]["project"]
        by_name = json.loads(
            export(tmp_path, "--force", "--table", "sessions", "--project", name).read_bytes()
        )
        assert {s["project"] for s in by_name["sessions"]} == {name}
        none = json.loads(
            export(tmp_path, "--force", "--table", "sessions", "--platform", "cursor").read_bytes()
        )
        assert none["sessions"] == []

    @pytest.mark.parametrize(
        "params",
        [{"tool": "Bash"}, {"model": "claude-opus-4-5-20251101"}, {"min_cost": "0.3"}, {"min_tokens": "100000"},
         {"branch": "master"}, {"status": "active"}, {"tool": "Bash", "min_cost": "0.1"}, {"tool": "NoSuchTool"},
         {"min_tokens": str(2**70)}, {"min_cost": "1e30"}],
        ids=lambda p: ",".join(f"{k}={v[:12]}" for k, v in p.items()),
    )  # fmt: skip
    def test_the_sessions_lists_filters_keep_the_same_sessions(self, corpus, client, tmp_path, params):
        listed = client.get("/api/v1/sessions/", {**QUERY, "page_size": 1000, **params})
        assert listed.status_code == 200, listed.content[:300]
        expected = {r["session_id"] for r in listed.json()["results"]}
        args = [x for k, v in params.items() for x in (f"--{k.replace('_', '-')}", v)]
        document = json.loads(export(tmp_path, "--format", "json", *args).read_bytes())
        assert {s["session_id"] for s in document["sessions"]} == expected
        assert {t["session_id"] for t in document["turns"]} <= expected
        if params == {"tool": "Bash"}:
            assert 0 < len(expected) < 21

    def test_an_existing_file_is_kept_without_force(self, corpus, tmp_path, capsys):
        out = tmp_path / "out"
        out.write_text("mine")
        assert main(["export", *SPAN, "-o", str(out)]) == 1
        assert out.read_text() == "mine"
        assert capsys.readouterr().err == f"blueplane: {out} exists: --force replaces it\n"
        assert main(["export", *SPAN, "-o", str(out), "--force"]) == 0
        assert json.loads(out.read_text())["span"]["since"] == "2026-11-01"
        assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary file left


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BLUEPLANE), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_csv_to_stdout_from_a_real_store(corpus_home, redis_server, tmp_path):
    result = run("export", *SPAN, "--format", "csv", env=store_env(corpus_home, redis_server), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 21 and rows[0]["platform"] == "claude_code"
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("args", "code", "error"),
    [
        (["--format", "xml"], 2, "argument --format: invalid choice: 'xml'"),
        (["--min-cost", "lots"], 2, "argument --min-cost: not an amount of USD: 'lots'"),
        (["--min-cost", "nan"], 2, "argument --min-cost: not an amount of USD: 'nan'"),
        (["--min-tokens", "-1"], 2, "argument --min-tokens: not a whole number of at least 0: '-1'"),
        (["--status", "sleeping"], 2, "argument --status: invalid choice: 'sleeping'"),
        (["--table", "bogus"], 2, "argument --table: 'bogus' is not one of"),
        (["--since", "2026-13-01"], 2, "argument --since: not a date (YYYY-MM-DD): '2026-13-01'"),
        (["--tz", "Mars/Olympus"], 2, "blueplane: unknown time zone 'Mars/Olympus'"),
        (["--since", "2026-11-30", "--until", "2026-11-01"], 1, "blueplane: --since 2026-11-30 is after"),
        (["--project", "no-such-project"], 2, "blueplane: no project 'no-such-project'"),
        (["--format", "parquet"], 1, "blueplane: a Parquet file is binary: name it with -o FILE"),
        (["--format", "csv", "--table", "all"], 1, "blueplane: a csv file holds one table"),
        (["-o", "/proc/no/such/dir/x.json"], 1, "blueplane: cannot write /proc/no/such/dir/x.json"),
        (["-o", "."], 1, "blueplane: . is a folder: name a file with -o"),
        (["--since", "9999-12-31", "--until", "9999-12-31"], 0, ""),
        (["--since", "0001-01-01", "--until", "0001-01-01"], 0, ""),
    ],
    ids=["format", "min-cost", "min-cost-nan", "min-tokens", "status", "table", "date", "zone", "reversed", "project", "parquet-stdout", "csv-all",
         "unwritable", "folder", "year-9999", "year-1"],
)  # fmt: skip
def test_bad_input_is_one_line(corpus_home, redis_server, tmp_path, args, code, error):
    result = run("export", *args, env=store_env(corpus_home, redis_server), cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code == 1:
        assert len(result.stderr.splitlines()) == 1
    assert error in result.stderr
    assert os.listdir(tmp_path) == []
