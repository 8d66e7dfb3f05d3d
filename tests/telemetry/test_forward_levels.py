"""What leaves a connected machine at each level (telemetry/forward/levels.py), batches and the cursor
(batches.py), and team-mode projects by origin URL (privacy.py)."""

import os
import subprocess
from pathlib import Path

import pytest

from telemetry.capture.claude_events import hook_envelope
from telemetry.capture.privacy import Privacy, git_origin, origin_url
from telemetry.forward.batches import batch_build, cursor_read, cursor_write
from telemetry.forward.levels import envelope_leveled

SALT = b"s" * 32
PAYLOAD = {
    "hook_event_name": "PostToolUse",
    "session_id": "sess-1",
    "tool_name": "Bash",
    "tool_use_id": "toolu_1",
    "cwd": "/home/alice/secret-project",
    "tool_input": {"command": "cat /etc/passwd"},
    "tool_response": {"stdout": "root:x:0:0", "duration_ms": 12},
    "model": "claude-opus-4-5",
    "weird key with spaces": "hello world",
}


def captured(*, store_content: bool) -> dict:
    import orjson

    privacy = Privacy(SALT, store_content=store_content)
    return hook_envelope(orjson.dumps(PAYLOAD), capture_ns=1_700_000_000_000_000_000, privacy=privacy)


def strings(value: object) -> list[str]:
    if isinstance(value, dict):
        return [*map(str, value), *(s for v in value.values() for s in strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_content_forwards_as_stored_without_user_id():
    stored = {**captured(store_content=True), "user_id": "x", "machine_id": "y"}
    out = envelope_leveled(stored, "content", privacy=Privacy(SALT))
    assert "user_id" not in out and "machine_id" not in out
    assert out["payload"] == stored["payload"]


def test_metadata_of_a_default_capture_is_unchanged():
    stored = captured(store_content=False)
    assert envelope_leveled(stored, "metadata", privacy=Privacy(SALT)) == stored


def test_metadata_removes_content_kept_by_a_local_opt_in():
    opted_in = captured(store_content=True)
    assert "cat /etc/passwd" in str(opted_in)
    out = envelope_leveled(opted_in, "metadata", privacy=Privacy(SALT))
    assert out["payload"] == captured(store_content=False)["payload"]
    assert "cat /etc/passwd" not in str(out) and "/home/alice" not in str(out["payload"])


@pytest.mark.parametrize("store_content", [False, True])
def test_counts_keeps_numbers_ids_types_models_and_tools_only(store_content):
    out = envelope_leveled(captured(store_content=store_content), "counts", privacy=Privacy(SALT))
    text = " ".join(strings(out))
    for gone in ("passwd", "root:x", "/home/alice", "secret-project", "path:", "hello", "hash"):
        assert gone not in text, gone
    assert out["payload"]["tool_name"] == "Bash" and out["payload"]["model"] == "claude-opus-4-5"
    assert out["payload"]["session_id"] == "sess-1" and out["event_type"]
    assert "project" not in out.get("metadata", {})
    assert isinstance(out["payload"], dict)


def test_counts_keeps_a_tool_uses_name_and_token_counts():
    record = {
        "event_id": "cc:t:1", "platform": "claude_code", "source": "transcript", "event_type": "assistant",
        "session_id": "s", "timestamp": "2026-01-01T00:00:00Z",
        "payload": {"type": "assistant", "gitBranch": "alice/secret", "message": {
            "model": "claude-sonnet-4-5", "usage": {"input_tokens": 5, "output_tokens": 7},
            "content": [{"type": "tool_use", "name": "Edit", "id": "toolu_9"},
                        {"type": "text", "text": {"chars": 4, "lines": 1, "hash": "abcd"}}]}},
    }  # fmt: skip
    out = envelope_leveled(record, "counts", privacy=Privacy(SALT))
    message = out["payload"]["message"]
    assert message["usage"] == {"input_tokens": 5, "output_tokens": 7}
    assert message["content"][0] == {"type": "tool_use", "name": "Edit", "id": "toolu_9"}
    assert message["content"][1] == {"type": "text", "text": {"chars": 4, "lines": 1}}
    assert "gitBranch" not in out["payload"]


def test_a_batch_stops_at_its_limits_but_always_holds_one_event():
    events = [(i, b"x" * 100) for i in range(1, 11)]
    assert len(batch_build("claude_code", events, max_events=4).seqs) == 4
    batch = batch_build("claude_code", events, max_bytes=350)
    assert batch.seqs == [1, 2, 3] and batch.through == 3 and len(batch.body()) <= 350
    assert batch_build("claude_code", [(5, b"y" * 1000)], max_bytes=10).seqs == [5]
    batch.drop(1)
    assert batch.body() == b"[" + b"x" * 100 + b"," + b"x" * 100 + b"]" and batch.through == 3


def test_the_cursor_belongs_to_one_server(tmp_path):
    cursor_write(tmp_path, "https://a", {"claude_code": 7})
    assert cursor_read(tmp_path, "https://a") == {"claude_code": 7}
    assert cursor_read(tmp_path, "https://b") == {}
    assert oct((tmp_path / "forward" / "cursor.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "url",
    ["https://github.com/acme/app.git", "git@github.com:acme/app.git", "ssh://git@github.com:22/acme/app",
     "https://bob@GitHub.com/acme/app/", "git://github.com/acme/app"],
)  # fmt: skip
def test_origin_urls_of_one_repository_are_equal(url):
    assert origin_url(url) == "github.com/acme/app"


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, env={**os.environ, "GIT_AUTHOR_NAME": "t",
                   "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})  # fmt: skip


def test_clones_and_worktrees_of_one_origin_are_one_project_in_team_mode(tmp_path):
    one, two = tmp_path / "one" / "app", tmp_path / "elsewhere" / "app-copy"
    for path, url in ((one, "https://github.com/acme/app.git"), (two, "git@github.com:acme/app")):
        path.mkdir(parents=True)
        git("init", "-q", cwd=path)
        git("remote", "add", "origin", url, cwd=path)
    git("commit", "-q", "--allow-empty", "-m", "x", cwd=one)
    worktree = tmp_path / "wt"
    git("worktree", "add", "-q", str(worktree), cwd=one)
    (one / "sub").mkdir()
    assert git_origin(str(worktree)) == "github.com/acme/app"
    team = Privacy(SALT, team=True)
    projects = [team.project(str(p)) for p in (one / "sub", two, worktree)]
    assert len({p["hash"] for p in projects}) == 1 and projects[0]["name"] == "app"
    alone = Privacy(SALT)  # not connected: a project is its path
    assert len({alone.project(str(p))["hash"] for p in (one, two, worktree)}) == 3
    plain = tmp_path / "no-origin"
    (plain / ".git").mkdir(parents=True)
    assert team.project(str(plain)) == alone.project(str(plain))
