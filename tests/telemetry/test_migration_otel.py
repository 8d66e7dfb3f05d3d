"""Migration 0009 re-keys the API-call turns derived before OTel by their request id alone, so that an
OTel `api_request` event of the same call finds them; a store holding the same request under two
message ids keeps one row."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
AT = datetime(2025, 10, 20, 8, tzinfo=UTC)
BEFORE, AFTER = [("telemetry", "0008_cursor_revision_generation")], [("telemetry", "0009_otel")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture(autouse=True)
def _latest_after():
    """Leave the database at the newest migrations: processes the next tests start check for them."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_api_call_turns_are_rekeyed_by_request_id() -> None:
    apps = _migrate(BEFORE)
    Session, Conversation = (
        apps.get_model("telemetry", "Session"),
        apps.get_model("telemetry", "Conversation"),
    )
    Turn, ToolCall = apps.get_model("telemetry", "Turn"), apps.get_model("telemetry", "ToolCall")
    UsageHour, Project = apps.get_model("telemetry", "UsageHour"), apps.get_model("telemetry", "Project")
    session = Session.objects.create(platform="claude_code", session_id="s")
    talk = Conversation.objects.create(session=session, conversation_id="s")
    cursor = Session.objects.create(platform="cursor", session_id="c")
    cursor_talk = Conversation.objects.create(session=cursor, conversation_id="c")
    common = {"session": session, "conversation": talk, "timestamp": AT, "hour": AT}
    for key, kind in (
        ("msg_1:req_1", "assistant_response"),
        ("msg_2:req_2", "assistant_response"),
        ("msg_3:req_2", "assistant_response"),  # the same request under another message id: one call
        ("msg_4:", "assistant_response"),  # no request id: kept
        ("uuid:u-1", "assistant_response"),
        ("api_error:msg_5:req_5", "api_error"),
        ("prompt:p-1", "user_prompt"),
    ):
        Turn.objects.create(**common, key=key, kind=kind)
    Turn.objects.create(session=cursor, conversation=cursor_talk, timestamp=AT, hour=AT, key="b:r",
                        kind="assistant_response")  # fmt: skip
    ToolCall.objects.create(
        session=session, conversation=talk, tool_use_id="t", hour=AT, message_key="msg_1:req_1"
    )
    project = Project.objects.create(key="k", name="n")
    UsageHour.objects.create(hour=AT, platform="claude_code", project=project, model="m", messages=2)

    apps = _migrate(AFTER)
    Turn = apps.get_model("telemetry", "Turn")
    rows = sorted(
        Turn.objects.filter(session__platform="claude_code").values_list("key", "request_id", "source")
    )
    assert rows == [
        (":req_1", "req_1", "transcript"),
        (":req_2", "req_2", "transcript"),
        ("api_error::req_5", "req_5", ""),
        ("msg_4:", "", "transcript"),
        ("prompt:p-1", "", ""),
        ("uuid:u-1", "", "transcript"),
    ]
    assert Turn.objects.get(session__platform="cursor").key == "b:r"
    assert apps.get_model("telemetry", "ToolCall").objects.get().message_key == ":req_1"
    assert apps.get_model("telemetry", "UsageHour").objects.get().source == "transcript"
