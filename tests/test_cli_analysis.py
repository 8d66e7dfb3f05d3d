"""`sessions`, `analyze`, `tools`, `errors`, `projects` over the real Claude Code corpus: the API's answers
for the same question, the corpus's ground truth, and every bad input as one line and a non-zero exit."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from blueplane import cli
from tests.api.resources_support import API_ERROR, FAILURES, FORK_CHILD, FORK_PARENT, SUBAGENT
from tests.support.stores import store_env

pytestmark = pytest.mark.django_db

BLUEPLANE = Path(sys.executable).parent / "blueplane"
FIXTURE = Path(__file__).parent / "fixtures" / "claude-real"
SPAN = ["--since", "2026-11-01", "--until", "2026-11-30", "--tz", "UTC"]
TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")


def cli_json(capsys: pytest.CaptureFixture, *argv: str) -> object:
    assert cli.main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def api(client, path: str, **params: object) -> dict:
    response = client.get(f"/api/v1/{path}", params)
    assert response.status_code == 200, response.content[:300]
    return response.json()


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"tool": "Bash"},
        {"model": "claude-opus-4-5-20251101", "ordering": "-cost_usd"},
        {"project": "03-failures"},
        {"since": "2026-11-25T10:24:30", "until": "2026-11-25", "tz": "Europe/Berlin"},
        {"min_cost": "0.2", "min_tokens": "1000", "ordering": "tokens"},
        {"search": "fork", "platform": "claude_code", "status": "active", "branch": "master"},
    ],
    ids=["all", "tool", "model", "project", "span", "minimums", "search"],
)
def test_sessions_json_is_the_apis_list(corpus, client, capsys, params):
    options = [f"--{k.replace('_', '-')}={v}" for k, v in params.items() if k != "ordering"]
    order = [f"--order={params['ordering']}"] if "ordering" in params else []
    tz = [] if "tz" in params else ["--tz", "UTC"]
    ours = cli_json(capsys, "sessions", "--json", "--limit", "1000", *tz, *options, *order)
    theirs = api(client, "sessions/", page_size=1000, **params)["results"]
    assert ours == theirs
    assert ours or params.get("min_cost")  # every question but the costly one finds sessions


def test_sessions_table_and_limit(corpus, capsys):
    assert cli.main(["sessions", "--tz", "UTC", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert FORK_CHILD in out and "more sessions match: raise --limit (now 3)" in out
    assert len([line for line in out.splitlines() if line[:8].strip() and "-" in line[:9]]) == 3


def _ccusage_sessions() -> dict:
    found = json.loads((FIXTURE / "ccusage" / "session.json").read_text())["session"]
    return {s["period"]: s for s in found}


def test_analyze_turns_add_up_to_the_session_and_to_ccusage(corpus, capsys):
    reference = _ccusage_sessions()
    for session_id in reference:
        found = cli_json(capsys, "analyze", session_id, "--json")
        session, turns = found["session"], found["turns"]
        assert found["turns_total"] == len(turns) >= 1
        for kind in TOKENS:
            assert sum(t[kind] for t in turns) == session[kind]
        assert sum(t["responses"] for t in turns) == session["assistant_messages"]
        assert sum(t["tool_calls"] for t in turns) == session["tool_calls"]
        assert sum(t["index"] > 0 for t in turns) == session["prompts"]
        cost = sum(Decimal(str(t["cost_usd"])) for t in turns)
        assert abs(cost - Decimal(str(session["cost_usd"]))) < Decimal("1e-6")
        if session_id in (FORK_CHILD, FORK_PARENT):
            continue  # ccusage counts the origin's copied messages for the fork (README, "forked pair")
        theirs = reference[session_id]
        assert [session["input_tokens"], session["output_tokens"]] == [
            theirs["inputTokens"],
            theirs["outputTokens"],
        ]
        assert [session["cache_write_tokens"], session["cache_read_tokens"]] == [
            theirs["cacheCreationTokens"],
            theirs["cacheReadTokens"],
        ]
        assert abs(session["cost_usd"] - theirs["totalCost"]) < 1e-6


def test_analyze_shows_the_subagent_with_its_own_figures(corpus, capsys):
    found = cli_json(capsys, "analyze", SUBAGENT[:8], "--json")
    assert found["session"]["session_id"] == SUBAGENT
    (agent,) = found["subagents"]
    assert agent["agent_type"] == "general-purpose" and agent["status"] == "completed"
    assert agent["responses"] == 2 and agent["tool_calls"] == 1
    main_responses = found["session"]["assistant_messages"] - agent["responses"]
    assert main_responses == 2  # the session's four responses: two of its own, two of the sub-agent
    assert 0 < agent["cost_usd"] < found["session"]["cost_usd"]
    assert {t["tool_name"] for t in found["tools"]} == {"Agent", "Bash"}
    kinds = [i["type"] for i in found["timeline"]]
    assert kinds[0] == "turn" and "tool_call" in kinds
    assert [i["at"] for i in found["timeline"]] == sorted(i["at"] for i in found["timeline"])


def test_analyze_failures_errors_and_files(corpus, capsys):
    found = cli_json(capsys, "analyze", FAILURES, "--json")
    session = found["session"]
    failed = sum(t["failures"] + t["rejections"] + t["interruptions"] for t in found["tools"])
    assert (
        failed == session["tool_failures"] + session["tool_rejections"] + session["tool_interruptions"] == 4
    )
    assert sum(e["count"] for e in found["tool_errors"]) == 4
    assert sum(t["tool_failures"] for t in found["turns"]) == 4
    api_error = cli_json(capsys, "analyze", API_ERROR, "--json")
    assert len(api_error["api_errors"]) == api_error["session"]["api_errors"] >= 1
    edits = cli_json(capsys, "analyze", "6020e324-f726-4ac2-bb01-94fd89ba3a10", "--json")  # 00-files
    (txt,) = edits["files"]
    assert txt["file_extension"] == "txt" and txt["files"] == 1 and txt["changes"] >= 2
    assert txt["lines_added"] == edits["session"]["lines_added"]


def test_analyze_timeline_is_cut_and_says_so(corpus, capsys):
    found = cli_json(capsys, "analyze", FAILURES, "--json", "--timeline", "3")
    assert len(found["timeline"]) == 3 and found["timeline_more"]
    assert "/timeline/" in found["limits"]["more"]
    assert cli.main(["analyze", FAILURES, "--timeline", "3", "--tz", "UTC"]) == 0
    out = capsys.readouterr().out
    assert "timeline: the first 3 items" in out and "Tool errors" in out and "Turns" in out


def test_tools_errors_projects_equal_the_apis(corpus, client, capsys):
    span = {"since": "2026-11-01", "until": "2026-11-30", "tz": "UTC"}
    assert cli_json(capsys, "tools", "--json", *SPAN) == api(client, "tools/", **span)["tools"]
    assert cli_json(capsys, "errors", "--json", *SPAN) == api(client, "errors/", **span)
    limited = cli_json(capsys, "errors", "--json", "--limit", "2", "--tool", "Bash", *SPAN)
    assert limited == api(client, "errors/", limit=2, tool="Bash", **span) and limited["more"]
    key = api(client, "projects/", search="03-failures")["results"][0]["key"]
    by_name = cli_json(capsys, "tools", "--json", "--project", "03-failures", *SPAN)
    assert by_name == api(client, "tools/", project=key, **span)["tools"]
    assert cli_json(capsys, "projects", "--json") == api(client, "projects/", page_size=1000)["results"]
    assert (
        cli_json(capsys, "projects", "--json", "--order=-cost_usd", "--search", "fork")
        == api(client, "projects/", ordering="-cost_usd", search="fork")["results"]
    )


def test_tools_table_has_failure_bars(corpus, capsys):
    assert cli.main(["tools", *SPAN]) == 0
    out = capsys.readouterr().out
    bash = next(line for line in out.splitlines() if line.startswith("Bash "))
    assert "█" in bash and "%" in bash


# --- bad input: one line on stderr, a non-zero exit, never a traceback (in a subprocess, as users run it)


@pytest.mark.parametrize(
    "args",
    [
        ["analyze", "no-such-session"],
        ["analyze", "1"],  # two sessions' ids start with 1
        ["analyze", "x" * 100_000],
        ["sessions", "--since", "2026-02-30"],
        ["sessions", "--until", "not a date"],
        ["sessions", "--tz", "Mars/Olympus"],
        ["sessions", "--min-cost", "lots"],
        ["sessions", "--min-tokens", "many"],
        ["sessions", "--min-tokens", "1.5"],
        ["sessions", "--status", "sleeping"],
        ["sessions", "--project", "no-such-project"],
        ["sessions", "--since", "2026-11-26", "--until", "2026-11-25"],
        ["tools", "--since", "0000-01-01"],
        ["tools", "--tz", "Nowhere/Special"],
        ["tools", "--project", "no-such-project"],
        ["errors", "--since", "2026-11-30", "--until", "2026-11-01"],
        ["errors", "--project", "no-such-project"],
        ["projects", "--tz", "Mars/Olympus"],
        ["analyze", SUBAGENT, "--tz", "Mars/Olympus"],
    ],
)
def test_bad_input_is_one_line(corpus_home, redis_server, args):
    result = subprocess.run(
        [str(BLUEPLANE), *args],
        env=store_env(corpus_home, redis_server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout[:300]
    assert "Traceback" not in result.stderr
    # One line saying what is wrong (argparse's usage may come before it: lines "usage:" and indented).
    said = [line for line in result.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(said) == 1 and said[0].startswith("blueplane"), result.stderr[:500]
    assert len(result.stderr) < 1000
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "--limit", "0"],
        ["sessions", "--limit", "99999999999999999999999"],
        ["sessions", "--order", "cheapest"],
        ["sessions", "--bogus"],
        ["analyze"],
        ["analyze", SUBAGENT, "--timeline", "5000"],
        ["errors", "--limit", "-1"],
        ["projects", "--order", "size"],
        ["tools", "--since", "yesterday"],
    ],
)
def test_bad_arguments_are_usage_and_one_error(args, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(args)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: blueplane") and len([x for x in err.splitlines() if "error:" in x]) == 1


def test_edge_values_do_not_crash(corpus, capsys):
    assert cli_json(capsys, "sessions", "--json", "--min-tokens", str(2**70)) == []
    assert cli_json(capsys, "sessions", "--json", "--min-cost", "1e30") == []
    assert len(cli_json(capsys, "sessions", "--json", "--since", "0001-01-01", "--until", "9999-12-31")) == 21
    assert cli_json(
        capsys, "tools", "--json", "--since", "0001-01-01", "--until", "9999-12-31", "--tz", "UTC"
    )
    assert cli_json(capsys, "sessions", "--json", "--search", "x" * 1_000_000) == []


def test_megabyte_values_are_answered_not_crashed_on(corpus, capsys):
    huge = "x" * 1_000_000
    assert cli_json(capsys, "errors", "--json", "--tool", huge, *SPAN)["groups"] == []
    assert cli_json(capsys, "sessions", "--json", "--branch", huge, "--model", huge) == []
    assert cli_json(capsys, "projects", "--json", "--search", huge) == []
    assert cli.main(["tools", "--project", huge, *SPAN]) == 2
    assert cli.main(["analyze", huge]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and len(err) < 500


def test_the_console_script_answers_with_json_alone(corpus_home, redis_server):
    env = store_env(corpus_home, redis_server)
    for args in (["sessions", "--json", "--tz", "UTC"], ["analyze", SUBAGENT[:8], "--json"], ["projects", "--json"],
                 ["tools", "--json", *SPAN], ["errors", "--json", *SPAN]):  # fmt: skip
        done = subprocess.run(
            [str(BLUEPLANE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0 and done.stderr == "", (args, done.stderr[:300])
        assert json.loads(done.stdout), args
    sessions = json.loads(subprocess.run([str(BLUEPLANE), "sessions", "--json"], env=env, capture_output=True,
                                         text=True, timeout=60, check=True).stdout)  # fmt: skip
    assert len(sessions) == 21 and len({s["session_id"] for s in sessions}) == 21
