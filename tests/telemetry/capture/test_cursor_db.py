"""The Cursor reader on a copy of the fixture: the envelopes reproduce the ground truth's totals that
the databases alone can show, read-only, without credentials, without content."""

from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from telemetry.capture import cursor_db
from telemetry.capture.cursor_monitor import CursorMonitor
from telemetry.capture.cursor_paths import code_workspace_roots, cursor_paths, locate_under, uri_path
from telemetry.capture.cursor_state import CursorState
from telemetry.capture.privacy import Privacy
from tests.support.cursor import DATA_HOME, GROUND_TRUTH, cursor_home, main_files

PRIVACY = Privacy(b"cursor-test-salt")
TOTALS = GROUND_TRUTH["totals"]
CANARY = GROUND_TRUTH["excluded"]["must_never_appear_in_output"].encode()


def read_all(home: Path, *, privacy: Privacy = PRIVACY, state_path: str | None = None) -> list[dict]:
    """Every envelope one poll of a fresh monitor sends."""
    out: list[bytes] = []
    monitor = CursorMonitor(
        home=str(home), privacy=privacy, send=out.extend, state=CursorState(state_path),
        locate=locate_under(DATA_HOME, str(home)),
    )  # fmt: skip
    monitor.poll()
    return [orjson.loads(e) for e in out]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return cursor_home(tmp_path)


@pytest.fixture
def envelopes(home: Path) -> list[dict]:
    return read_all(home)


def of(envelopes: list[dict], event_type: str) -> list[dict]:
    return [e for e in envelopes if e["event_type"] == event_type]


def figures(envelopes: list[dict]) -> dict:
    """The ground truth's figures, counted from envelopes as its counting rules say."""
    bubbles = [e["payload"] for e in of(envelopes, "bubble")]
    composers = [e["payload"] for e in of(envelopes, "composer")]
    tools = [b["tool"] for b in bubbles if b["tool"]]
    tokens: dict = defaultdict(lambda: {"input": 0, "output": 0})
    for b in bubbles:
        if b["tokens"]:
            tokens[b["model"]]["input"] += b["tokens"]["input"]
            tokens[b["model"]]["output"] += b["tokens"]["output"]
    return {
        "conversations": len(composers),
        "conversations_nonempty": sum(1 for c in composers if c["messages"]),
        "conversations_archived": sum(1 for c in composers if c["archived"]),
        "user_messages": sum(1 for b in bubbles if b["role"] == "user"),
        "assistant_messages": sum(1 for b in bubbles if b["role"] == "assistant"),
        "assistant_text_messages": sum(1 for b in bubbles if b["role"] == "assistant" and not b["tool"]),
        "tool_calls": len(tools),
        # A legacy chat tab's format has no token field at all: the ground truth does not count it missing.
        "bubbles_missing_tokenCount": sum(1 for b in bubbles if b["tokens"] is None and b["era"] != "tab"),
        "lines_added": sum(c["lines_added"] or 0 for c in composers),
        "lines_removed": sum(c["lines_removed"] or 0 for c in composers),
        "mcp_calls": sum(1 for t in tools if t["kind"] == "mcp"),
        "file_reads": sum(1 for t in tools if t["kind"] == "read"),
        "shell_commands": sum(1 for t in tools if t["kind"] == "shell"),
        "tokens_by_model": {m: t for m, t in tokens.items() if t["input"] or t["output"]},
        "files_edited": len({t["path_hash"] for t in tools if t["kind"] == "edit"}),
    }


def test_envelopes_reproduce_the_ground_truth_totals_with_the_wal_only_turn(envelopes):
    got = figures(envelopes)
    assert got == {key: TOTALS[key] for key in got}
    without_wal = GROUND_TRUTH["totals_without_wal"]
    assert got["user_messages"] != without_wal["user_messages"]
    assert got["shell_commands"] != without_wal["shell_commands"]


def test_each_workspace_gets_its_own_figures(envelopes):
    by_workspace = defaultdict(list)
    for e in envelopes:
        by_workspace[e["metadata"].get("workspace")].append(e)
    for workspace in GROUND_TRUTH["workspaces"]:
        got = figures(by_workspace[workspace["id"]])
        assert {k: v for k, v in got.items() if k in workspace} == {
            k: workspace[k] for k in got if k in workspace
        }


def test_each_conversation_is_one_composer_with_its_era_and_messages(envelopes):
    composers = {e["session_id"]: e["payload"] for e in of(envelopes, "composer")}
    for conv in GROUND_TRUTH["conversations"]:
        payload = composers[conv["id"]]
        assert payload["archived"] == conv["archived"]
        assert payload["messages"] == conv["user_messages"] + conv["assistant_messages"]
        assert payload["era"] == ("tab" if conv["kind"] == "aichat_tab" else conv["era"].replace("new", ""))
        assert payload["workspace"] == conv["workspace_id"]
    deleted = {d["id"] for d in GROUND_TRUTH["excluded"]["deleted_conversations"]}
    bubble_sessions = {e["session_id"] for e in of(envelopes, "bubble")}
    assert not deleted & (set(composers) | bubble_sessions)
    orphans = {k.rsplit(":", 1)[1] for k in GROUND_TRUTH["excluded"]["orphan_bubble_keys"]}
    nulls = {k.rsplit(":", 1)[1] for k in GROUND_TRUTH["excluded"]["null_value_keys"]}
    assert not (orphans | nulls) & {e["payload"]["bubbleId"] for e in of(envelopes, "bubble")}


def test_generations_join_their_conversation(envelopes):
    joined = defaultdict(set)
    for e in of(envelopes, "generation"):
        joined[e["session_id"]].add(e["payload"]["generation_id"])
    for conv in GROUND_TRUTH["conversations"]:
        assert joined.get(conv["id"], set()) == set(conv["generation_ids"]), conv["id"]


def test_models_follow_the_user_bubble_then_the_composer(envelopes):
    seen = defaultdict(set)
    for e in of(envelopes, "bubble"):
        if e["payload"]["role"] == "assistant":
            seen[e["session_id"]].add(e["payload"]["model"])
    for conv in GROUND_TRUTH["conversations"]:
        assert seen.get(conv["id"], set()) == set(conv["models_seen"]), conv["id"]


def test_zero_tokens_after_the_cutover_are_flagged_not_counted_as_recorded(envelopes):
    flagged = {e["session_id"] for e in of(envelopes, "bubble") if e["payload"]["tokens_zero_cutover"]}
    assert flagged == {"3ac7652c-cdf8-4404-8729-5e4299901c04"}


def test_timestamps_come_from_cursors_data(envelopes):
    composers = {e["session_id"]: e for e in of(envelopes, "composer")}
    for conv in GROUND_TRUTH["conversations"]:
        assert composers[conv["id"]]["timestamp"] == (conv["created_at"] or conv["last_updated_at"])
        stamps = sorted(e["timestamp"] for e in of(envelopes, "bubble") if e["session_id"] == conv["id"])
        if stamps:  # within the conversation's life, the last no later than its last update
            assert (conv["created_at"] or stamps[0]) <= stamps[0] <= stamps[-1] <= conv["last_updated_at"]
        if conv["era"].startswith("v2") and stamps:  # bubbles with createdAt
            assert stamps[0] == conv["first_message_at"]


def test_tool_targets_hash_what_the_hook_hashes(envelopes):
    shells = [
        e["metadata"]["tool"]
        for e in of(envelopes, "bubble")
        if e["payload"]["tool"] and e["payload"]["tool"]["kind"] == "shell"
    ]
    assert {t["target_hash"] for t in shells} == {
        PRIVACY.digest("go test ./..."),
        PRIVACY.digest("python -m pytest -x -q"),
    }
    edits = {
        e["metadata"]["tool"]["path_hash"]
        for e in of(envelopes, "bubble")
        if (e["payload"]["tool"] or {}).get("kind") == "edit"
    }
    assert edits == {PRIVACY.path(p) for p in TOTALS["files_edited_list"]}
    mcp = next(
        e["metadata"]["tool"]
        for e in of(envelopes, "bubble")
        if (e["payload"]["tool"] or {}).get("kind") == "mcp"
    )
    assert (mcp["mcp_server"], mcp["target_hash"]) == ("acme", PRIVACY.digest("acme/query"))


def test_ai_tracking_rows_are_sent_with_their_figures(envelopes):
    tracking = GROUND_TRUTH["ai_tracking"]
    code = [e["payload"] for e in of(envelopes, "ai_code")]
    assert len(code) == tracking["ai_code_hashes"]["rows"]
    assert Counter(c["source"] for c in code) == tracking["ai_code_hashes"]["by_source"]
    assert Counter(c["model"] or "(null)" for c in code) == tracking["ai_code_hashes"]["by_model"]
    assert (
        Counter(c["conversation_id"] for c in code if c["conversation_id"])
        == tracking["ai_code_hashes"]["by_conversation"]
    )
    commits = of(envelopes, "scored_commit")
    assert len(commits) == tracking["scored_commits"]["rows"]
    distinct = {c["payload"]["commitHash"]: c["payload"] for c in commits}
    assert len(distinct) == tracking["scored_commits"]["distinct_commits"]
    for column in ("linesAdded", "linesDeleted", "tabLinesAdded", "composerLinesAdded", "humanLinesAdded"):
        assert sum(p[column] for p in distinct.values()) == tracking["scored_commits"][column]
    assert all(e["session_id"] == "cursor-ai-tracking" for e in commits)
    assert "Add backoff" not in orjson.dumps(commits).decode()


def test_no_credentials_and_no_content_leave_the_reader(home, tmp_path, caplog):
    state = str(tmp_path / "state.sqlite3")
    raw = orjson.dumps(read_all(home, state_path=state))
    assert CANARY not in raw
    assert CANARY not in Path(state).read_bytes()
    assert CANARY.decode() not in caplog.text
    for secret in (
        b"Make the CLI print a table",
        b"go test ./...",
        "Überprojekt".encode(),
        b"retry_0 = compute",
    ):
        assert secret not in raw


def test_content_is_kept_only_when_the_user_opted_in(home):
    raw = orjson.dumps(read_all(home, privacy=Privacy(b"salt", store_content=True)))
    assert b"Make the CLI print a table" in raw
    assert CANARY not in raw


def test_reading_leaves_the_database_files_byte_for_byte_unchanged(home):
    before = main_files(home)
    read_all(home)
    after = main_files(home)
    assert {path: after[path] for path in before} == before
    # A read-only open of a WAL database whose -wal is missing creates an empty one (SQLite does).
    assert all(after[path] == b"" for path in set(after) - set(before))


def test_ids_and_timestamps_are_the_same_on_every_read(home):
    first = {e["event_id"]: e["timestamp"] for e in read_all(home)}
    assert {e["event_id"]: e["timestamp"] for e in read_all(home)} == first
    assert len(first) == len(read_all(home))


def test_workspaces_map_through_workspace_json(home):
    paths = cursor_paths(home=str(home), locate=locate_under(DATA_HOME, str(home)))
    got = {ws.id: list(ws.roots) for ws in paths.workspaces}
    assert got == {ws["id"]: ws["roots"] for ws in GROUND_TRUTH["workspaces"]}
    assert uri_path("file:///c%3A/Users/dev/x") == "c:/Users/dev/x"
    assert code_workspace_roots("/nowhere/gone.code-workspace") == ["/nowhere"]


def test_values_may_be_text_blob_or_null():
    assert cursor_db.value_json(b'{"a": 1}') == {"a": 1}
    assert cursor_db.value_json('{"a": 1}') == {"a": 1}
    assert cursor_db.value_json(None) is None
    assert cursor_db.value_json(b"\xff{") is None


def test_the_reader_never_selects_credential_keys(home):
    # Every statement the reader runs is traced: none names ItemTable except for the allowed keys.
    statements: list[str] = []
    real = cursor_db.connect_ro

    from contextlib import contextmanager

    @contextmanager
    def traced(path: str, **kw):
        with real(path, **kw) as conn:
            conn.set_trace_callback(statements.append)
            yield conn

    cursor_db.connect_ro = traced
    try:
        read_all(home)
    finally:
        cursor_db.connect_ro = real
    assert statements
    assert not [
        s for s in statements if "cursorAuth" in s or ("ItemTable" in s and "composer.composerData" not in s)
    ]
    with cursor_db.connect_ro(str(cursor_paths(home=str(home)).global_db)) as conn:  # the canary is there
        assert conn.execute("SELECT count(*) FROM ItemTable WHERE key LIKE 'cursorAuth/%'").fetchone()[0] == 3
