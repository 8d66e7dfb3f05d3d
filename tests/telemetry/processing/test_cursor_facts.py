"""Cursor envelopes (built by hand per docs/wire-format.md "Cursor events") -> facts. Pure: no database."""

import itertools
from datetime import timedelta
from decimal import Decimal

from telemetry.models import TurnKind
from telemetry.processing.bounds import facts_fit
from telemetry.processing.cursor import AI_TRACKING_SESSION, GENERATION, cursor_facts
from telemetry.processing.facts import (
    AiCodeFact,
    AiCommitFact,
    ChangeFact,
    ConversationFact,
    IssueFact,
    IssueKind,
    SessionFact,
    ToolFact,
    TurnFact,
    facts_reduce,
)
from tests.support import cursor_events as ev
from tests.support.cursor_events import CONV, EDIT, GEN1, READ, SHELL, T0


def facts(event: dict, seq: int = 1) -> list:
    return cursor_facts(seq=seq, event=event)


def of(kind: type, event: dict) -> list:
    return [f for f in facts(event) if isinstance(f, kind)]


def test_a_hook_prompt_and_the_database_user_bubble_are_one_turn() -> None:
    (hook,) = of(TurnFact, ev.hook("beforeSubmitPrompt", CONV, GEN1, T0, prompt=ev.text(120)))
    (db,) = of(TurnFact, ev.bubble(CONV, "b1", role="user", ms=T0 + 50, request_id=GEN1, chars=120))
    assert hook.key == db.key == f"prompt:{GEN1}"
    assert hook.kind == db.kind == "user_prompt"
    assert hook.chars == db.chars == 120
    merged = facts_reduce([db, hook]).turns
    assert len(merged) == 1
    assert next(iter(merged.values())).timestamp == hook.timestamp  # the earlier of the two


def test_a_user_bubble_without_request_id_is_keyed_by_its_bubble() -> None:
    (turn,) = of(TurnFact, ev.bubble(CONV, "b9", role="user", ms=T0))
    assert turn.key == "bubble:b9"


def test_a_generation_record_only_gives_its_prompt_a_start_time() -> None:
    (gen,) = of(TurnFact, ev.generation(CONV, GEN1, T0 - 500))
    assert gen.kind == GENERATION and gen.key == f"prompt:{GEN1}"
    (prompt,) = of(TurnFact, ev.bubble(CONV, "b1", role="user", ms=T0, request_id=GEN1))
    for pair in ([gen, prompt], [prompt, gen]):
        (merged,) = facts_reduce(pair).turns.values()
        assert merged.kind == "user_prompt"
        assert merged.timestamp == gen.timestamp


def test_assistant_bubbles_record_tokens_or_say_they_are_unknown() -> None:
    (known,) = of(TurnFact, ev.bubble(CONV, "b2", role="assistant", ms=T0, request_id=GEN1, position=3,
                                      tokens={"input": 100, "output": 7}))  # fmt: skip
    assert known.key == "bubble:b2" and known.kind == "assistant_response"
    assert (known.input_tokens, known.output_tokens, known.tokens_known) == (100, 7, True)
    assert known.detail["own_tokens"] == 1 and known.detail["text"] == 1 and known.detail["position"] == 3
    (missing,) = of(TurnFact, ev.bubble(CONV, "b3", role="assistant", ms=T0, tokens=None))
    (cutover,) = of(TurnFact, ev.bubble(CONV, "b4", role="assistant", ms=T0, tokens={"input": 0, "output": 0},
                                        cutover=True))  # fmt: skip
    for turn in (missing, cutover):
        assert turn.tokens_known is False
        assert turn.detail["own_tokens"] == 0
        assert turn.input_tokens == turn.output_tokens == 0
    (zero,) = of(TurnFact, ev.bubble(CONV, "b5", role="assistant", ms=T0, tokens={"input": 0, "output": 0}))
    assert zero.tokens_known is True  # {0,0} before the cutover is what Cursor recorded


def test_response_hooks_are_keyed_by_generation_and_stop_carries_its_tokens() -> None:
    (text,) = of(TurnFact, ev.hook("afterAgentResponse", CONV, GEN1, T0, text=ev.text(10), model="gpt-5"))
    (stop,) = of(TurnFact, ev.hook("stop", CONV, GEN1, T0 + 50, status="completed", input_tokens=10,
                                   output_tokens=2, cache_read_tokens=3, cache_write_tokens=4))  # fmt: skip
    assert text.key == stop.key == f"response:{GEN1}"
    assert text.kind == "assistant_response" and text.model == "gpt-5"
    assert not text.tokens_known
    assert {k: stop.detail[k] for k in ("stop_input", "stop_output", "stop_cache_read", "stop_cache_write")} == {
        "stop_input": 10, "stop_output": 2, "stop_cache_read": 3, "stop_cache_write": 4,
    }  # fmt: skip
    (old_stop,) = of(TurnFact, ev.hook("stop", CONV, GEN1, T0, status="completed", loop_count=0))
    assert "stop_input" not in old_stop.detail


def test_a_tool_bubble_is_a_message_and_a_call_with_its_database_status() -> None:
    for status, expected in [("completed", "success"), ("error", "failure"), ("cancelled", "interrupted"),
                             ("loading", "pending")]:  # fmt: skip
        event = ev.bubble(CONV, "b2", role="assistant", ms=T0, request_id=GEN1,
                          tool=ev.shell_tool(SHELL, tool_use_id="toolu_1", status=status))  # fmt: skip
        (turn,) = of(TurnFact, event)
        (call,) = of(ToolFact, event)
        assert turn.kind == "assistant_response" and turn.detail["text"] == 0
        assert (call.tool_use_id, call.tool_name, call.status) == ("toolu_1", "run_terminal_cmd", expected)
        assert call.target_hash == SHELL and call.message_key == f"prompt:{GEN1}" and call.seen_in_transcript
    (call,) = of(ToolFact, ev.bubble(CONV, "b8", role="assistant", ms=T0, tool=ev.shell_tool(SHELL)))
    assert call.tool_use_id == "bubble:b8"  # no toolCallId


def test_an_edit_bubble_is_also_a_code_change_keyed_like_its_call() -> None:
    event = ev.bubble(CONV, "b3", role="assistant", ms=T0, request_id=GEN1,
                      tool=ev.edit_tool(EDIT, tool_use_id="toolu_e", added=4, removed=2, extension=".TSX"))  # fmt: skip
    (change,) = of(ChangeFact, event)
    assert (change.key, change.lines_added, change.lines_removed, change.file_extension) == (
        "toolu_e",
        4,
        2,
        "tsx",
    )
    assert change.path_hash == EDIT


def test_id_less_hooks_are_keyed_by_generation_and_target() -> None:
    shell = ev.shell_tool(SHELL, name="Shell")
    (before,) = of(ToolFact, ev.hook("beforeShellExecution", CONV, GEN1, T0, tool=shell))
    (after,) = of(
        ToolFact, ev.hook("afterShellExecution", CONV, GEN1, T0 + 9_000, tool=shell, duration=5_000)
    )
    assert before.tool_use_id == after.tool_use_id == f"hook:{GEN1}:{SHELL}"
    assert before.seen_in_hooks and not before.seen_in_transcript
    assert after.status == "success" and after.duration_ms == 5_000
    (merged,) = facts_reduce([after, before]).tools.values()
    assert merged.started_at == before.started_at and merged.finished_at == after.finished_at
    edit = ev.hook("afterFileEdit", CONV, GEN1, T0, tool=ev.edit_tool(EDIT, name="Edit"),
                   meta={"lines_added": 5, "lines_removed": 1})  # fmt: skip
    (change,) = of(ChangeFact, edit)
    assert (change.key, change.lines_added, change.lines_removed) == (f"hook:{GEN1}:{EDIT}", 5, 1)
    (read,) = of(
        ToolFact, ev.hook("beforeReadFile", CONV, GEN1, T0, tool={"kind": "read", "target_hash": READ})
    )
    assert read.tool_name == "read_file"  # the database's name for a call the hook does not name
    mcp = ev.hook("beforeMCPExecution", CONV, GEN1, T0, tool={"kind": "mcp", "target_hash": "m1",
                  "mcp_server": "sqlite"}, tool_name="query")  # fmt: skip
    (call,) = of(ToolFact, mcp)
    assert (call.tool_name, call.mcp_server) == ("mcp_sqlite_query", "sqlite")


def test_tool_use_hooks_report_outcomes_and_durations() -> None:
    tool = ev.shell_tool(SHELL, name="Shell", tool_use_id="toolu_1")
    (pre,) = of(ToolFact, ev.hook("preToolUse", CONV, GEN1, T0, tool=tool, tool_use_id="toolu_1"))
    assert pre.started_at is not None and pre.finished_at is None and pre.status == "pending"
    (post,) = of(ToolFact, ev.hook("postToolUse", CONV, GEN1, T0 + 800, tool=tool, tool_use_id="toolu_1",
                                   duration=700))  # fmt: skip
    assert post.status == "success" and post.duration_ms == 700
    cases = [({"is_interrupt": True}, "interrupted"), ({"failure_type": "permission_denied"}, "rejected"),
             ({"failure_type": "timeout"}, "failure")]  # fmt: skip
    for fields, status in cases:
        (failed,) = of(ToolFact, ev.hook("postToolUseFailure", CONV, GEN1, T0, tool=tool, tool_use_id="toolu_1",
                                         **fields))  # fmt: skip
        assert failed.status == status
    (issue,) = of(IssueFact, ev.hook("preToolUse", CONV, GEN1, T0, tool_name="Shell"))
    assert issue.kind == IssueKind.MISSING_FIELD


def test_the_database_tool_name_wins_in_any_order() -> None:
    db = of(ToolFact, ev.bubble(CONV, "b2", role="assistant", ms=T0, request_id=GEN1,
                                tool=ev.shell_tool(SHELL, tool_use_id="toolu_1", status="completed")))  # fmt: skip
    hooks = of(ToolFact, ev.hook("preToolUse", CONV, GEN1, T0, tool=ev.shell_tool(SHELL, name="Shell"),
                                 tool_use_id="toolu_1"))  # fmt: skip
    hooks += of(ToolFact, ev.hook("postToolUse", CONV, GEN1, T0 + 5, tool=ev.shell_tool(SHELL, name="Zsh"),
                                  tool_use_id="toolu_1"))  # fmt: skip
    results = set()
    for order in itertools.permutations(db + hooks):
        (merged,) = facts_reduce(list(order)).tools.values()
        results.add(merged)
    assert len(results) == 1
    assert next(iter(results)).tool_name == "run_terminal_cmd"


def test_composer_revisions_merge_to_the_newest_whatever_the_order() -> None:
    old = ev.composer(CONV, created_ms=T0, updated_ms=T0 + 10, lines_added=1, archived=False)
    new = ev.composer(CONV, created_ms=T0, updated_ms=T0 + 99, lines_added=7, lines_removed=3, archived=True)
    (a,) = of(ConversationFact, old)
    (b,) = of(ConversationFact, new)
    assert b.revision > a.revision
    for pair in ([a, b], [b, a]):
        (merged,) = facts_reduce(pair).conversations.values()
        assert (merged.lines_added, merged.lines_removed, merged.archived) == (7, 3, True)
    sessions = [f for f in facts(new) if isinstance(f, SessionFact)]
    assert {s.ts for s in sessions} == {a.updated_at - timedelta(milliseconds=10), b.updated_at}
    assert sessions[0].project == (ev.PROJECT["hash"], ev.PROJECT["name"])
    assert b.title == ""  # the name's text was not kept


def test_ai_tracking_records_without_a_conversation_state_no_session() -> None:
    commit = facts(ev.scored_commit("abc123", "main", ms=T0, linesAdded=10, composerLinesAdded=4,
                                    v1AiPercentage="40.00", v2AiPercentage="x"))  # fmt: skip
    assert [type(f) for f in commit] == [AiCommitFact]
    assert commit[0].counts[0] == 10 and commit[0].counts[4] == 4
    assert commit[0].v1_ai_percentage == Decimal("40.00") and commit[0].v2_ai_percentage is None
    tab = facts(ev.ai_code("h1", ms=T0, source="tab"))
    assert [type(f) for f in tab] == [AiCodeFact] and tab[0].session_id == ""
    composed = facts(ev.ai_code("h2", ms=T0, conversation=CONV))
    assert {type(f) for f in composed} == {AiCodeFact, SessionFact}
    (line,) = [f for f in composed if isinstance(f, AiCodeFact)]
    assert line.session_id == CONV and line.file_extension == "py"


def test_ai_commit_revisions_keep_the_newest_scoring() -> None:
    (a,) = facts(ev.scored_commit("abc", "main", ms=T0, linesAdded=1))
    (b,) = facts(ev.scored_commit("abc", "main", ms=T0 + 1, linesAdded=2))
    for pair in ([a, b], [b, a]):
        (merged,) = facts_reduce(pair).ai_commits.values()
        assert merged.counts[0] == 2


def test_unknown_hooks_records_and_sources_are_data_issues() -> None:
    issue = facts(ev.hook("somethingNew", CONV, GEN1, T0))[0]
    assert isinstance(issue, IssueFact) and issue.kind == IssueKind.UNKNOWN_HOOK
    record = ev.generation(CONV, GEN1, T0) | {"event_type": "mystery"}
    assert facts(record)[0].kind == IssueKind.UNKNOWN_RECORD
    assert facts(record | {"source": "otel"})[0].kind == IssueKind.UNKNOWN_SOURCE
    assert facts(record | {"payload": None})[0].kind == IssueKind.BAD_ENVELOPE
    thought = facts(ev.hook("afterAgentThought", CONV, GEN1, T0, duration_ms=5))
    assert [type(f) for f in thought] == [SessionFact]  # known, and nothing derived from it


def test_hostile_values_are_fitted_with_a_data_issue() -> None:
    event = ev.composer(CONV, created_ms=T0, updated_ms=T0, lines_added=2**40)
    fitted = facts_fit(facts(event), ident=7, session_id=CONV)
    (conversation,) = [f for f in fitted if isinstance(f, ConversationFact)]
    assert conversation.lines_added == 2**31 - 1
    assert any(isinstance(f, IssueFact) and f.kind == IssueKind.VALUE_OUT_OF_RANGE for f in fitted)
    commit = ev.scored_commit("c" * 80, "main", ms=T0, linesAdded=-5)
    fitted = facts_fit(facts(commit), ident=8, session_id=AI_TRACKING_SESSION)
    assert [f.counts[0] for f in fitted if isinstance(f, AiCommitFact)] == [0]


def test_the_whole_conversation_derives_without_issues() -> None:
    out = [f for e in ev.conversation_db() + ev.conversation_hooks() for f in facts(e)]
    assert not [f for f in out if isinstance(f, IssueFact)]
    reduced = facts_reduce(out)
    kinds = sorted(t.kind for t in reduced.turns.values())
    assert kinds.count("user_prompt") == 2
    assert kinds.count("assistant_response") == 6 + 2  # bubbles, and the hooks' two responses (joined later)


def test_the_generation_kind_is_the_models_and_loses_to_a_prompt() -> None:
    assert GENERATION == TurnKind.GENERATION
    assert max(GENERATION, TurnKind.USER_PROMPT) == TurnKind.USER_PROMPT  # what turn_merge relies on
