"""Privacy end to end: a unique marker in every string at a content position of every real fixture
record, run through the real capture (the hook's command line via `sh -c`, partly spooled; the tailer
and the importer), the fast path and the slow path, is found nowhere afterwards: not in any stored
event (decompressed), any column of any table, any Redis key or stream entry (nor Redis's append-only
file), the spool, or the logs.

Which positions are *not* content is written out below from the formats and docs/privacy.md, not
imported from telemetry/capture/privacy.py, so the test does not trust the lists it checks.
"""

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.db import connection

from telemetry import tasks
from telemetry.capture import installer
from telemetry.capture.importer import history_import
from telemetry.capture.loop import CaptureLoop
from telemetry.capture.privacy import Privacy, salt_load
from telemetry.capture.tailer import Tailer
from telemetry.models import ClaudeRawTrace, CodeChange, RawChunk, Session, ToolCall, Turn, TurnKind
from telemetry.store import units
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.telemetry.capture.helpers import HOOKS, PROJECTS, capture_home, drain

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MARKER = re.compile(rb"qzx\d{6}xzq")  # q, z and x are no hex digits: no hash can contain one

# --- positions that are not content ---------------------------------------------------------------
# A hook payload's top level: identifiers and enums, and paths (hashed).
HOOK_KEPT = {
    "hook_event_name", "session_id", "prompt_id", "tool_use_id", "tool_name", "agent_id", "agent_type",
    "permission_mode", "source", "reason", "trigger", "notification_type", "memory_type", "load_reason",
    "expansion_type", "command_source", "command_name", "message_id", "turn_id", "model", "from_model",
    "to_model", "requested_model", "cache_ttl", "pricing", "event", "task_id",
}  # fmt: skip
HOOK_PATHS = {"cwd", "transcript_path", "agent_transcript_path", "file_path", "old_cwd", "new_cwd"}
# A transcript record's envelope: ids, enums, timestamps, versions, branch, model names; paths; counts.
RECORD_KEPT = {
    "uuid", "parentUuid", "logicalParentUuid", "leafUuid", "sessionId", "session_id", "requestSessionId",
    "agentId", "requestId", "promptId", "messageId", "snapshotMessageId", "sourceToolAssistantUUID",
    "sourceToolUseID", "toolUseID", "id", "type", "subtype", "timestamp", "version", "gitBranch",
    "userType", "entrypoint", "slug", "level", "operation", "mode", "permissionMode", "promptSource",
    "turnOrigin", "querySource", "renderedRole", "rowSource", "madeBy", "effort", "promptCacheRequested",
    "requestedModel", "originalModel", "fallbackModel", "apiErrorType", "stopReason", "toolDenialKind",
    "thinkingDisplay", "trigger", "attributionAgent", "attributionSkill",
    "modelUsage",  # per-model counts
}  # fmt: skip
RECORD_PATHS = {"cwd", "trackingPath"}
MESSAGE_KEPT = {"id", "model", "role", "type", "stop_reason", "stop_sequence", "usage"}
BLOCK_KEPT = {"type", "id", "name", "tool_use_id", "is_error"}
# What capture reads to recognise Claude Code's built-in tools (not stored, but marking it would hide
# the code that computes the facts from this test): the top-level keys of tool inputs and results,
# the keys of patch hunks, a result's `type`, and a sub-agent result's id, type and status, which
# are kept as facts.
SHAPE_VALUES = {"type"}
AGENT_RESULT_KEPT = {"agentId", "agentType", "status"}


class Planter:
    """Plants markers: every string at a content position gets its own."""

    def __init__(self) -> None:
        self.planted: list[str] = []

    def marker(self) -> str:
        marker = f"qzx{len(self.planted):06d}xzq"
        self.planted.append(marker)
        return marker

    def text(self, value: str) -> str:
        # A path keeps its extension and its last folder (what is kept of a path); patch lines their +/-.
        if value.startswith("/"):
            return f"/{self.marker()}{value}"
        return f"{value} {self.marker()}" if value else self.marker()

    def content(self, value: object) -> object:
        """Content: every string and every key, at every depth."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.content(v) for v in value]
        if isinstance(value, dict):
            return {f"{k}_{self.marker()}": self.content(v) for k, v in value.items()}
        return value

    def tool_input(self, value: object) -> object:
        if not isinstance(value, dict):
            return self.content(value)
        return {k: self.content(v) for k, v in value.items()}

    def tool_result(self, value: object) -> object:
        if not isinstance(value, dict):
            return self.content(value)
        kept = SHAPE_VALUES | (AGENT_RESULT_KEPT if "agentId" in value else set())
        out = {}
        for key, v in value.items():
            if key in kept and isinstance(v, str):
                out[key] = v
            elif key == "structuredPatch" and isinstance(v, list):
                out[key] = [
                    {k: self.content(x) for k, x in h.items()} if isinstance(h, dict) else h for h in v
                ]
            else:
                out[key] = self.content(v)
        return out

    def hook(self, payload: dict) -> dict:
        out = {}
        for key, value in payload.items():
            if key in HOOK_KEPT or not isinstance(value, str | list | dict):
                out[key] = value
            elif key in HOOK_PATHS and isinstance(value, str):
                out[key] = self.text(value)
            elif key == "tool_input":
                out[key] = self.tool_input(value)
            elif key == "tool_response":
                out[key] = self.tool_result(value)
            else:
                out[key] = self.content(value)
        return out

    def record(self, record: dict) -> dict:
        out = {}
        for key, value in record.items():
            if key in RECORD_KEPT or not isinstance(value, str | list | dict):
                out[key] = value
            elif key in RECORD_PATHS and isinstance(value, str):
                out[key] = self.text(value)
            elif key == "message" and isinstance(value, dict):
                out[key] = self.message(value)
            elif key == "toolUseResult":
                out[key] = self.tool_result(value)
            else:
                out[key] = self.content(value)
        return out

    def message(self, message: dict) -> dict:
        out = {}
        for key, value in message.items():
            if key in MESSAGE_KEPT or not isinstance(value, str | list | dict):
                out[key] = value
            elif key == "content" and isinstance(value, list):
                out[key] = [self.block(b) if isinstance(b, dict) else self.content(b) for b in value]
            else:
                out[key] = self.content(value)
        return out

    def block(self, block: dict) -> dict:
        out = {}
        for key, value in block.items():
            if key in BLOCK_KEPT or not isinstance(value, str | list | dict):
                out[key] = value
            elif key == "input":
                out[key] = self.tool_input(value)
            else:
                out[key] = self.content(value)
        return out


# --- MCP tool calls whose keys look like identifiers ----------------------------------------------
MCP_SESSION = "7e57e57e-0000-4000-8000-000000000001"
MCP_CWD = "/home/dev/mcp-work"


def mail_payload(planter: Planter) -> dict:
    """An MCP mail call: innocent keys (and kept-position names) several levels deep, in lists; one
    key that is itself a marker."""
    return {
        "to": ["alice@example.com", {"name": "Bob", "reason": "merger", "destination": "inbox"}],
        "from": "carol@example.com",
        "name": "Q3 numbers",
        "reason": "board meeting",
        "destination": {
            "folder": {"name": "Legal", "path": "/mail/legal", "type": "archive",
                       "to": [{"from": "dave", "destination": {"reason": "deep", "id": "x-1",
                                                               "session_id": "s", "model": "m"}}]},
        },
        "type": "confidential", "id": "thread-7", "status": "draft", "source": "ui", "model": "acme",
        "cwd": "/home/dev/secret", "file_path": "/home/dev/secret/plan.txt", "uuid": "u-1",
        planter.marker(): "a key that is a marker",
    }  # fmt: skip


def ticket_payload() -> dict:
    return {
        "project": "OPS",
        "fields": [{"name": "assignee", "to": "erin"}, {"name": "reason", "reason": ["a", "b", {"to": "c"}]}],
        "links": {"destination": [{"destination": {"destination": "prod-db"}}]},
    }


def mcp_transcript(planter: Planter) -> list[dict]:
    base = {"sessionId": MCP_SESSION, "cwd": MCP_CWD, "version": "2.1.331", "gitBranch": "main",
            "userType": "external", "entrypoint": "cli", "isSidechain": False}  # fmt: skip
    usage = {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 0,
             "cache_creation_input_tokens": 10, "service_tier": "standard"}  # fmt: skip

    def assistant(n: int, tool_id: str, name: str, tool_input: dict) -> dict:
        return {**base, "type": "assistant", "uuid": f"{MCP_SESSION[:-2]}a{n}", "requestId": f"req_mcp_{n}",
                "timestamp": f"2026-11-25T11:00:0{n}.000Z",
                "message": {"id": f"msg_mcp_{n}", "type": "message", "role": "assistant",
                            "model": "claude-sonnet-4-5-20250929", "stop_reason": "tool_use", "usage": usage,
                            "content": [{"type": "text", "text": "I will use the tool"},
                                        {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}]}}  # fmt: skip

    def result(n: int, tool_id: str, content: object, own: object, is_error: bool = False) -> dict:
        return {**base, "type": "user", "uuid": f"{MCP_SESSION[:-2]}r{n}", "timestamp": f"2026-11-25T11:00:0{n}.500Z",
                "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id,
                                                         "content": content, "is_error": is_error}]},
                "toolUseResult": own}  # fmt: skip

    prompt = {**base, "type": "user", "uuid": f"{MCP_SESSION[:-2]}p1", "promptId": "prompt-mcp-1",
              "timestamp": "2026-11-25T11:00:00.000Z", "turnPosition": {"promptIndex": 0},
              "message": {"role": "user", "content": "Mail the board the Q3 numbers"}}  # fmt: skip
    return [
        prompt,
        assistant(1, "toolu_mcp_1", "mcp__mail__send_email", mail_payload(planter)),
        result(1, "toolu_mcp_1", [{"type": "text", "text": "sent", "to": "alice"}],
               {"to": "alice", "status": "sent", "destination": {"name": "Legal", "reason": "r"}}),
        assistant(2, "toolu_mcp_2", "mcp__tickets__create", ticket_payload()),
        result(2, "toolu_mcp_2", "Error: reason: not allowed to reach prod-db", "Error: prod-db", True),
        assistant(3, "toolu_mcp_3", "mcp__db__query", {"sql": "select * from salaries", "name": "hr"}),
        result(3, "toolu_mcp_3", [{"type": "text", "text": "3 rows"}], [{"name": "ann", "to": 100}]),
    ]  # fmt: skip


def mcp_hooks(planter: Planter) -> list[dict]:
    base = {"session_id": MCP_SESSION, "transcript_path": f"/home/dev/.claude/projects/x/{MCP_SESSION}.jsonl",
            "cwd": MCP_CWD, "permission_mode": "default"}  # fmt: skip
    return [
        {**base, "hook_event_name": "UserPromptSubmit", "prompt_id": "prompt-mcp-1",
         "prompt": "Mail the board the Q3 numbers"},
        {**base, "hook_event_name": "PreToolUse", "tool_name": "mcp__mail__send_email",
         "tool_use_id": "toolu_mcp_1", "tool_input": mail_payload(planter)},
        {**base, "hook_event_name": "PostToolUse", "tool_name": "mcp__mail__send_email",
         "tool_use_id": "toolu_mcp_1", "tool_input": mail_payload(planter), "duration_ms": 40,
         "tool_response": {"to": "alice", "status": "sent", "destination": {"name": "Legal"}}},
        {**base, "hook_event_name": "PreToolUse", "tool_name": "mcp__tickets__create",
         "tool_use_id": "toolu_mcp_2", "tool_input": ticket_payload()},
        {**base, "hook_event_name": "PostToolUseFailure", "tool_name": "mcp__tickets__create",
         "tool_use_id": "toolu_mcp_2", "tool_input": ticket_payload(), "is_interrupt": False,
         "error": "reason: not allowed to reach prod-db"},
        {**base, "hook_event_name": "Notification", "message": "Claude wants to mail alice",
         "notification_type": "permission_prompt"},
    ]  # fmt: skip


# --- the run --------------------------------------------------------------------------------------


def transcripts_marked(planter: Planter, root: Path) -> int:
    """The fixture tree, every record marked, plus the MCP session. Returns the number of lines."""
    lines = 0
    for source in sorted(PROJECTS.rglob("*")):
        target = root / source.relative_to(PROJECTS)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif source.suffix == ".jsonl":
            records = [json.loads(x) for x in source.read_text().splitlines() if x.strip()]
            target.write_text("".join(json.dumps(planter.record(r)) + "\n" for r in records))
            lines += len(records)
        else:
            shutil.copy(source, target)
    mcp = [planter.record(r) for r in mcp_transcript(planter)]
    (root / "-home-dev-mcp-work").mkdir()
    (root / "-home-dev-mcp-work" / f"{MCP_SESSION}.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in mcp)
    )
    return lines + len(mcp)


def hooks_marked(planter: Planter) -> list[bytes]:
    payloads = [json.loads(line)["payload"] for line in HOOKS.read_text().splitlines()]
    return [json.dumps(planter.hook(p)).encode() for p in payloads + mcp_hooks(planter)]


def redis_dump(client) -> bytes:
    """Everything in the Redis database: each key read by its type, and its DUMP."""
    parts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        parts.append(key)
        if kind == "string":
            parts.append(client.get(key) or b"")
        elif kind == "hash":
            parts.extend(b for kv in client.hgetall(key).items() for b in kv)
        elif kind == "list":
            parts.extend(client.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(client.smembers(key))
        elif kind == "zset":
            parts.extend(client.zrange(key, 0, -1))
        elif kind == "stream":
            for _id, fields in client.xrange(key):
                parts.extend(b for kv in fields.items() for b in kv)
            for group in client.xinfo_groups(key):
                parts.append(str(group).encode())
        parts.append(client.dump(key) or b"")
    return b"\n".join(parts)


def database_dump() -> bytes:
    """Every column of every table, and every stored event decompressed."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                parts.extend(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
    for chunk_id, codec_id, body in RawChunk.objects.values_list("id", "codec_id", "body"):
        parts.extend(units.chunk_events(chunk_id, codec_id, body))
    return b"\n".join(parts)


def files_dump(folder: Path) -> bytes:
    return b"\n".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def redis_aof() -> bytes:
    """The embedded Redis's append-only file (or folder, Redis 7): every write since its last rewrite."""
    if settings.BLUEPLANE_REDIS_URL:
        return b""
    folder = Path(settings.BLUEPLANE_HOME) / "redis"
    return b"\n".join(
        p.read_bytes() if p.is_file() else files_dump(p) for p in sorted(folder.glob("appendonly*"))
    )


def found(label: str, data: bytes) -> list[str]:
    return [f"{label}: {m.decode()}" for m in sorted(set(MARKER.findall(data)))[:20]]


def test_no_marked_content_survives_capture_ingest_and_derivation(redis, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    planter = Planter()
    projects = tmp_path / "projects"
    lines = transcripts_marked(planter, projects)
    hook_inputs = hooks_marked(planter)
    # The markers were there: each planted one is in what capture reads.
    given = b"\n".join(hook_inputs) + files_dump(projects)
    assert set(MARKER.findall(given)) == {m.encode() for m in planter.planted}
    assert len(planter.planted) > 20_000

    home = capture_home(tmp_path / "home")
    privacy = Privacy(salt_load(str(home / "salt")))
    hook_output = []
    reachable = (home / "capture.json").read_text()
    unreachable = json.dumps({"redis": f"unix://{tmp_path}/no-redis.sock", "store_content": False})
    for i, raw in enumerate(hook_inputs):
        # Every third call finds Redis unreachable and spools.
        (home / "capture.json").write_text(unreachable if i % 3 == 0 else reachable)
        done = subprocess.run(
            ["sh", "-c", installer.hook_command(home=str(home))], input=raw, capture_output=True, timeout=30
        )
        assert done.returncode == 0
        hook_output += [done.stdout, done.stderr]
    spool = files_dump(home / "spool")
    assert spool.count(b"\n") == len(range(0, len(hook_inputs), 3))
    # The capture process: replays the spool and tails the transcripts; the importer sends them too.
    loop = CaptureLoop(
        tailer=Tailer(root=str(projects), client=redis, offsets_path=str(tmp_path / "offsets.json"),
                      privacy=privacy),
        client=redis, home=str(home), spool_settle_s=0,
    )  # fmt: skip
    assert loop.run_once() > 0
    assert not list((home / "spool").glob("*.jsonl"))
    history_import(str(projects), client=redis, privacy=privacy, progress=False)
    in_redis = redis_dump(redis)
    assert redis.xlen(EVENTS_STREAM) >= len(hook_inputs) + lines

    drain(redis)  # the fast path: StreamConsumer.run_once until idle
    assert redis.xlen(DLQ_STREAM) == 0
    assert ClaudeRawTrace.objects.filter(source="hook").count() == len(hook_inputs)
    assert ClaudeRawTrace.objects.filter(source="transcript").count() == lines
    assert tasks.sessions_catch_up() > 0  # the slow path, as the worker runs it

    # The pipeline did its work: sessions, the MCP calls, and the facts read from tool results.
    assert Session.objects.filter(session_id=MCP_SESSION).exists()
    mcp_calls = ToolCall.objects.filter(session__session_id=MCP_SESSION)
    assert {c.mcp_server for c in mcp_calls} == {"mail", "tickets", "db"}
    assert mcp_calls.get(tool_use_id="toolu_mcp_2").status == "failure"
    assert CodeChange.objects.exclude(path_hash="").count() > 5
    assert Turn.objects.filter(kind=TurnKind.SUBAGENT_RUN, detail__has_key="tool_uses").exists()

    aof = redis_aof()
    assert settings.BLUEPLANE_REDIS_URL or MCP_SESSION.encode() in aof  # it holds this test's writes
    leaks = (
        found("event in Redis before the fast path", in_redis)
        + found("Redis", redis_dump(redis))
        + found("Redis append-only file", aof)
        + found("database", database_dump())
        + found("spool", spool)
        + found("logs", caplog.text.encode() + b"".join(hook_output))
    )
    assert leaks == []
    # Not vacuous either way: what is not content is still there.
    stored = database_dump()
    for kept in (MCP_SESSION, "mcp__mail__send_email", "toolu_mcp_1", "claude-sonnet-4-5-20250929"):
        assert kept.encode() in stored, kept
    assert orjson.loads(units.event_raw(platform="claude_code", seq=ClaudeRawTrace.objects.first().seq))
