"""The MCP server through the SDK's own client, over stdio (`blueplane mcp` in a subprocess) and over
streamable HTTP (/mcp of a real `manage.py runweb`), on a store the real pipeline filled: every tool
answers what the REST API answers for the same question (the API of the same server, on the same
store), a bad argument is an MCP error after which the server keeps serving, resources read, and a
client the API would refuse is refused."""

import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.support.stores import store_env
from tests.support.web import Web, web_server

BLUEPLANE = Path(sys.executable).parent / "blueplane"
SPAN = {"since": "2026-11-01", "until": "2026-11-30", "tz": "Europe/Berlin"}
SPAN_QUERY = urllib.parse.urlencode(SPAN)


@pytest.fixture(scope="module")
def env(corpus_home: Path, redis_server: str) -> dict[str, str]:
    return store_env(corpus_home, redis_server)


@pytest.fixture(scope="module")
def web(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    with web_server(log=tmp_path_factory.mktemp("mcp-web") / "web.log", env=env) as server:
        yield server


def api(web: Web, path: str, **headers: str) -> Any:
    answer = web.request(path, headers=headers)
    assert answer.status == 200, (path, answer.status, answer.body[:300])
    return json.loads(answer.body)


def stdio(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=str(BLUEPLANE), args=["mcp"], env=env)


def session_ids(web: Web) -> list[str]:
    return [s["session_id"] for s in api(web, "/api/v1/sessions/?page_size=100")["results"]]


def questions(web: Web) -> list[tuple[str, dict, Any]]:
    """(tool, arguments, what the API answers to the same question)."""
    first = session_ids(web)[0]
    busiest = api(web, "/api/v1/sessions/?ordering=-tokens&page_size=1")["results"][0]["session_id"]
    return [
        ("usage_report", {"group": "day", **SPAN}, api(web, f"/api/v1/usage/?group=day&{SPAN_QUERY}")),
        ("usage_report", {"group": "model", **SPAN}, api(web, f"/api/v1/usage/?group=model&{SPAN_QUERY}")),
        ("usage_report", {"group": "project", **SPAN}, api(web, f"/api/v1/usage/?group=project&{SPAN_QUERY}")),
        ("usage_report", {"group": "session", **SPAN, "limit": 100},
         api(web, f"/api/v1/usage/?group=session&limit=100&{SPAN_QUERY}")),
        ("usage_report", {"group": "week", "start_of_week": "sunday", **SPAN},
         api(web, f"/api/v1/usage/?group=week&start_of_week=sunday&{SPAN_QUERY}")),
        ("usage_report", {"group": "day", "format": "ccusage", **SPAN},
         api(web, f"/api/v1/usage/?group=day&format=ccusage&{SPAN_QUERY}")),
        ("ledger", SPAN, api(web, f"/api/v1/ledger/?{SPAN_QUERY}")),
        ("current_session", {"session_id": busiest}, api(web, f"/api/v1/sessions/{busiest}/")),
        ("current_session", {}, api(web, f"/api/v1/sessions/{first}/")),
        ("session_summary", {"session_id": busiest}, api(web, f"/api/v1/sessions/{busiest}/summary/")),
        ("similar_sessions", {"session_id": busiest, "limit": 5},
         api(web, f"/api/v1/sessions/{busiest}/similar/?limit=5")),
        ("sessions_search", {"tool": "Bash", "limit": 100},
         {"results": api(web, "/api/v1/sessions/?tool=Bash&page_size=100")["results"], "next_cursor": None}),
        ("sessions_search", {"ordering": "-cost_usd", "min_cost": 0.01, "limit": 100},
         {"results": api(web, "/api/v1/sessions/?ordering=-cost_usd&min_cost=0.01&page_size=100")["results"],
          "next_cursor": None}),
        ("projects", {}, {"results": api(web, "/api/v1/projects/")["results"], "next_cursor": None}),
        ("tool_performance", SPAN, api(web, f"/api/v1/tools/?{SPAN_QUERY}")),
        ("tool_failures", {"limit": 100},
         {"results": api(web, "/api/v1/tool-calls/?status=failure&page_size=100")["results"], "next_cursor": None}),
        ("tool_failures", {"tool_name": "Bash", "status": "rejected", "limit": 100},
         {"results": api(web, "/api/v1/tool-calls/?tool_name=Bash&status=rejected&page_size=100")["results"],
          "next_cursor": None}),
        ("errors_report", {**SPAN, "limit": 50}, api(web, f"/api/v1/errors/?limit=50&{SPAN_QUERY}")),
        ("edit_acceptance", SPAN, api(web, f"/api/v1/acceptance/?{SPAN_QUERY}")),
        ("ai_code", {**SPAN, "lines_by": "model"}, api(web, f"/api/v1/ai-code/?lines_by=model&{SPAN_QUERY}")),
        ("productivity", SPAN, api(web, f"/api/v1/productivity/?{SPAN_QUERY}")),
        ("pipeline_health", {}, api(web, "/api/v1/pipeline/")),
    ]  # fmt: skip


def comparable(tool: str, answer: Any) -> Any:
    """The answer without what changes from one moment to the next (free disk space)."""
    if tool == "pipeline_health":
        return {k: v for k, v in answer.items() if k != "disk"}
    return answer


# Arguments that are wrong, each refused as an MCP error (isError) with a message naming the problem.
BAD = [
    ("usage_report", {"tz": "Mars/Olympus"}, "unknown time zone"),
    ("usage_report", {"since": "2026-13-01"}, "since"),
    ("usage_report", {"since": "2026-11-30", "until": "2026-11-01"}, "after until"),
    ("usage_report", {"limit": 0}, "limit"),
    ("usage_report", {"limit": 10**30}, "limit"),
    ("usage_report", {"group": "year"}, "group"),
    ("usage_report", {"since": "0001-01-01", "until": "9999-12-31"}, None),  # the edges: an answer
    ("productivity", {"days": 10**30}, "days"),
    ("ledger", {"since": "2026-11-30", "until": "2026-11-01"}, "after until"),
    ("ledger", {"tz": "Mars/Olympus"}, "unknown time zone"),
    ("ledger", {"project": "x" * 100_000}, "project"),
    ("session_summary", {"session_id": "no-such-session"}, "no session"),
    ("session_summary", {"session_id": "x" * 1_000_000}, "session_id"),
    ("current_session", {"session_id": "a\x00b"}, "NUL"),
    ("sessions_search", {"cursor": "not-a-cursor"}, "cursor"),
    ("sessions_search", {"project": "a\x00b"}, "NUL"),
    ("current_session", {"project": "a\x00b"}, "NUL"),
    ("usage_report", {"tz": "\x00"}, "NUL"),
    ("usage_report", {"tz": "../../etc/passwd"}, "unknown time zone"),
    ("usage_report", {"tz": "x" * 100_000}, "tz"),
    ("current_session", {"project": "no-such-project"}, "no session of project"),
    ("sessions_search", {"since": "yesterday"}, "since"),
    ("sessions_search", {"min_tokens": 2**64}, "min_tokens"),
    ("tool_failures", {"limit": 101}, "limit"),
    ("similar_sessions", {"session_id": "no-such-session"}, "no session"),
    ("no_such_tool", {}, "no_such_tool"),
]


async def exercise(client: Client, web: Web) -> None:
    """Everything a client does with the server, checked against the API."""
    listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == {
        "usage_report", "ledger", "current_session", "sessions_search", "session_summary", "similar_sessions",
        "projects", "tool_performance", "tool_failures", "errors_report", "edit_acceptance",
        "ai_code", "productivity", "pipeline_health",
    }  # fmt: skip
    assert all(len(tool.description or "") > 100 and tool.output_schema for tool in listed.values())

    asked = set()
    for tool, arguments, expected in questions(web):
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, (tool, result.content)
        assert comparable(tool, result.structured_content) == comparable(tool, expected), (tool, arguments)
        asked.add(tool)
    assert asked == set(listed)

    # A longer answer is cut at `limit`, saying so; the totals still count every row.
    cut = await client.call_tool("usage_report", {"group": "project", "limit": 2, **SPAN})
    whole = api(web, f"/api/v1/usage/?group=project&{SPAN_QUERY}")
    assert len(whole["rows"]) > 2
    assert cut.structured_content == {**whole, "rows": whole["rows"][:2], "more": True}

    for tool, arguments, says in BAD:
        result = await client.call_tool(tool, arguments)
        if says is None:
            assert not result.is_error, (tool, result.content)
            continue
        assert result.is_error, (tool, arguments)
        message = result.content[0].text
        assert says in message and len(message) < 2000, (tool, message[:300])
        # The server still serves.
        assert not (await client.call_tool("projects", {"limit": 1})).is_error


async def pages(client: Client, web: Web) -> None:
    """A list a page at a time: the cursor walks the API's order, every session once."""
    seen, cursor = [], None
    while True:
        result = await client.call_tool(
            "sessions_search", {"limit": 3, **({"cursor": cursor} if cursor else {})}
        )
        assert not result.is_error, result.content
        seen += [s["session_id"] for s in result.structured_content["results"]]
        cursor = result.structured_content["next_cursor"]
        if cursor is None:
            break
    assert seen == session_ids(web)


async def resources(client: Client, web: Web) -> None:
    listed = {str(r.uri) for r in (await client.list_resources()).resources}
    assert listed == {"blueplane://sessions/recent", "blueplane://summary/today"}
    recent = json.loads((await client.read_resource("blueplane://sessions/recent")).contents[0].text)
    assert recent == api(web, "/api/v1/sessions/?page_size=20")["results"]
    today = json.loads((await client.read_resource("blueplane://summary/today")).contents[0].text)
    assert set(today) == {"usage", "productivity"} and today["usage"]["group"] == "model"


def test_over_stdio_every_tool_answers_as_the_api(env: dict[str, str], web: Web) -> None:
    async def main() -> None:
        async with Client(stdio(env)) as client:
            await exercise(client, web)
            await pages(client, web)
            await resources(client, web)

    anyio.run(main)


def test_over_http_every_tool_answers_as_the_api(web: Web) -> None:
    async def main() -> None:
        async with Client(web.url + "/mcp") as client:
            await exercise(client, web)
            await pages(client, web)
            await resources(client, web)

    anyio.run(main)


def test_stdout_of_blueplane_mcp_holds_only_the_protocol(env: dict[str, str]) -> None:
    hello = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}},
    }  # fmt: skip
    done = subprocess.run(
        [str(BLUEPLANE), "mcp"], input=json.dumps(hello) + "\n", env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "blueplane"


def test_blueplane_mcp_without_a_database_is_one_line(tmp_path: Path, redis_server: str) -> None:
    done = subprocess.run(
        [str(BLUEPLANE), "mcp"], env=store_env(tmp_path, redis_server), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "blueplane up" in done.stderr


def test_blueplane_mcp_refuses_an_argument(tmp_path: Path) -> None:
    done = subprocess.run([str(BLUEPLANE), "mcp", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "unrecognized arguments: --port 1" in done.stderr
    assert "Traceback" not in done.stderr


def initialize(web: Web, **headers: str):
    hello = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}},
    }  # fmt: skip
    return web.request(
        "/mcp", method="POST", body=json.dumps(hello).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
    )  # fmt: skip


def test_http_refuses_a_client_off_this_machine_without_a_token(web: Web) -> None:
    # runweb takes the client a loopback proxy names in X-Forwarded-For: a client of another machine.
    refused = initialize(web, **{"X-Forwarded-For": "203.0.113.9"})
    assert refused.status == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert "203.0.113.9 need an API token" in json.loads(refused.body)["message"]
    assert initialize(web, Authorization="Bearer bp_not_a_token").status == 401
    # A web page that rebinds its DNS name to 127.0.0.1 sends its own host name.
    assert initialize(web, Host="attacker.example").status == 400
    assert initialize(web).status == 200


def test_http_without_loopback_trust_needs_a_token_and_takes_a_valid_one(
    tmp_path: Path, redis_server: str
) -> None:
    env = {**store_env(tmp_path, redis_server), "BLUEPLANE_API_TRUST_LOOPBACK": "0"}
    subprocess.run([str(BLUEPLANE), "manage", "migrate", "-v0"], env=env, check=True, timeout=300)
    made = subprocess.run(
        [str(BLUEPLANE), "token", "create", "mcp-client", "--json"], env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    token = json.loads(made.stdout)["token"]
    with web_server(log=tmp_path / "web.log", env=env) as web:
        assert initialize(web).status == 401

        async def main() -> None:
            import httpx2

            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
                from mcp.client.streamable_http import streamable_http_client

                async with Client(streamable_http_client(web.url + "/mcp", http_client=http)) as client:
                    result = await client.call_tool("projects", {})
                    assert not result.is_error and result.structured_content == {
                        "results": [],
                        "next_cursor": None,
                    }

        anyio.run(main)
        subprocess.run([str(BLUEPLANE), "token", "revoke", "mcp-client"], env=env, check=True, timeout=120)
        assert initialize(web, Authorization=f"Bearer {token}").status == 401


def test_sigterm_stops_the_web_server_cleanly_with_an_mcp_session_open(
    env: dict[str, str], tmp_path: Path
) -> None:
    with web_server(log=tmp_path / "web.log", env=env) as web:

        async def main() -> None:
            async with Client(web.url + "/mcp") as client:
                assert not (await client.call_tool("projects", {"limit": 1})).is_error
                assert await anyio.to_thread.run_sync(web.stop) == 0

        anyio.run(main)
        assert web.process.returncode == 0
        assert "session manager shutting down" in web.log_text() and "Traceback" not in web.log_text()
