from telemetry.capture.claude_events import transcript_envelope
from telemetry.capture.privacy import Privacy, lines_changed

PRIVACY = Privacy(b"s" * 32)

ASSISTANT = {
    "type": "assistant",
    "uuid": "u1",
    "parentUuid": "u0",
    "sessionId": "s1",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "cwd": "/home/me/app/src",
    "requestId": "req_1",
    "isSidechain": False,
    "message": {
        "id": "msg_1",
        "model": "claude-sonnet-4-5-20250929",
        "role": "assistant",
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 9, "service_tier": "standard"},
        "content": [
            {"type": "thinking", "thinking": "private thoughts", "signature": "sig"},
            {"type": "text", "text": "Here is the plan"},
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "Edit",
                "input": {"file_path": "/home/me/app/x.py", "old_string": "a\nb", "new_string": "c"},
            },
        ],
    },
}
EDIT_RESULT = {
    "type": "user",
    "uuid": "u2",
    "sessionId": "s1",
    "timestamp": "2026-01-01T00:00:01.000Z",
    "message": {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
    },
    "toolUseResult": {
        "filePath": "/home/me/app/x.py",
        "oldString": "a\nb",
        "structuredPatch": [
            {"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 1, "lines": ["-a", "-b", "+c"]}
        ],
    },
}


def envelope(record: dict, privacy: Privacy = PRIVACY) -> dict:
    return transcript_envelope(
        record, file_key="s1", offset=0, session_hint="s1", timestamp=record["timestamp"],
        timestamp_from="record", privacy=privacy,
    )  # fmt: skip


def test_assistant_record_keeps_structure_and_usage_but_no_text():
    payload = envelope(ASSISTANT)["payload"]
    message = payload["message"]
    assert (message["id"], message["model"], message["stop_reason"]) == (
        "msg_1",
        ASSISTANT["message"]["model"],
        "tool_use",
    )
    assert message["usage"] == ASSISTANT["message"]["usage"]
    thinking, text, tool = message["content"]
    assert thinking["thinking"]["chars"] == len("private thoughts")
    assert text["text"] == {"chars": 16, "lines": 1, "hash": PRIVACY.digest("Here is the plan")}
    assert (tool["name"], tool["id"]) == ("Edit", "toolu_1")
    assert tool["input"]["old_string"]["lines"] == 2
    assert tool["input"]["file_path"].startswith("path:") and tool["input"]["file_path"].endswith(".py")
    assert payload["cwd"].startswith("path:")
    assert "private" not in str(payload) and "/home/me" not in str(payload)


def test_line_counts_are_computed_before_the_patch_text_is_dropped():
    event = envelope(EDIT_RESULT)
    assert (event["metadata"]["lines_added"], event["metadata"]["lines_removed"]) == (1, 2)
    assert event["payload"]["toolUseResult"]["structuredPatch"] == [
        {"oldStart": 1, "oldLines": 2, "newStart": 1, "newLines": 1, "added": 1, "removed": 2}
    ]
    assert lines_changed({"type": "create", "content": "a\nb\nc\n", "structuredPatch": []}) == (3, 0)


def test_opting_in_keeps_the_record_whole():
    assert envelope(ASSISTANT, Privacy(b"s" * 32, store_content=True))["payload"] == ASSISTANT


def test_paths_hash_with_the_install_salt_and_keep_the_extension():
    assert PRIVACY.path("/a/b/notes.txt").endswith(".txt")
    assert PRIVACY.path("/a/b/notes.txt") != Privacy(b"t" * 32).path("/a/b/notes.txt")
    assert PRIVACY.path("/a/b/Makefile").count(".") == 0


def test_project_is_the_git_root(tmp_path):
    repo = tmp_path / "myrepo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "deep").mkdir(parents=True)
    project = PRIVACY.project(str(repo / "src" / "deep"))
    assert project == {"hash": PRIVACY.digest(str(repo)), "name": "myrepo"}


def test_safe_keys_holding_a_path_are_hashed():
    assert PRIVACY.filter({"from": "/home/me/secret"})["from"].startswith("path:")
