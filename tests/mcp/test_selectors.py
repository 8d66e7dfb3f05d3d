"""The selectors the MCP server added: similar sessions (by project, tools and files touched) and a
session's breakdown, as plain functions over rows made here."""

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.models import CodeChange, Conversation, Project, Session, ToolCall
from telemetry.selectors import breakdown, similar

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def session_make(
    sid: str, project: Project | None, *, tools=(), files=(), minutes: int = 0, **extra
) -> Session:
    at = T0 + timedelta(minutes=minutes)
    session = Session.objects.create(
        platform="claude_code", session_id=sid, project=project, started_at=at, last_event_at=at
    )
    conversation = Conversation.objects.create(session=session, conversation_id=sid)
    for i, (name, status) in enumerate(t if isinstance(t, tuple) else (t, "success") for t in tools):
        ToolCall.objects.create(
            session=session, conversation=conversation, project=project, tool_use_id=f"{sid}-{i}",
            tool_name=name, status=status, started_at=at, hour=at.replace(minute=0), duration_ms=10,
        )  # fmt: skip
    for i, (path, ext) in enumerate(files):
        CodeChange.objects.create(
            session=session, project=project, key=f"{sid}-{i}", file_extension=ext, path_hash=path,
            lines_added=3, lines_removed=1, timestamp=at, hour=at.replace(minute=0),
        )  # fmt: skip
    return session


@pytest.fixture
def projects() -> tuple[Project, Project, Project]:
    return (
        Project.objects.create(key="a", name="alpha"),
        Project.objects.create(key="b", name="beta"),
        Project.objects.create(key=Project.UNKNOWN_KEY, name="(unknown)"),
    )


def test_similar_ranks_by_project_then_tools_and_files(projects) -> None:
    alpha, beta, _ = projects
    me = session_make("me", alpha, tools=["Bash", "Edit"], files=[("h1", "py"), ("h2", "py")])
    session_make("twin", alpha, tools=["Bash", "Edit"], files=[("h1", "py"), ("h2", "py")], minutes=1)
    session_make("same-project", alpha, tools=["Read"], minutes=2)
    session_make("same-files", beta, tools=["Edit"], files=[("h1", "py")], minutes=3)
    session_make("nothing-shared", beta, tools=["WebFetch"], minutes=4)

    found = similar.sessions_similar(session=me, limit=10)

    assert [f["session"].session_id for f in found] == ["twin", "same-project", "same-files"]
    assert found[0]["score"] == pytest.approx(1.0)
    assert found[0]["same_project"] and found[0]["tools_shared"] == ["Bash", "Edit"]
    assert found[0]["files_shared"] == 2
    # alpha, no tool or file in common: the project's weight alone.
    assert found[1]["score"] == pytest.approx(similar.PROJECT_WEIGHT)
    # beta: Edit of {Bash, Edit}, h1 of {h1, h2}.
    assert found[2]["score"] == pytest.approx(similar.TOOLS_WEIGHT / 2 + similar.FILES_WEIGHT / 2)
    assert (found[2]["tools_shared"], found[2]["files_shared"]) == (["Edit"], 1)


def test_similar_is_bounded_by_limit_and_ties_go_to_the_most_recent(projects) -> None:
    alpha, _, _ = projects
    me = session_make("me", alpha, tools=["Bash"])
    for i in range(5):
        session_make(f"other-{i}", alpha, tools=["Bash"], minutes=i + 1)

    found = similar.sessions_similar(session=me, limit=3)

    assert [f["session"].session_id for f in found] == ["other-4", "other-3", "other-2"]


def test_the_unknown_project_is_not_a_shared_project(projects) -> None:
    _, _, unknown = projects
    me = session_make("me", unknown, tools=["Bash"])
    session_make("stranger", unknown, tools=["Read"], minutes=1)

    assert similar.sessions_similar(session=me) == []


def test_a_session_with_nothing_has_no_similar_sessions(projects) -> None:
    me = session_make("me", None)
    session_make("other", projects[0], tools=["Bash"], minutes=1)

    assert similar.sessions_similar(session=me) == []


def test_breakdown_counts_tools_by_outcome_and_changes_by_extension(projects) -> None:
    tools = [("Bash", "success"), ("Bash", "failure"), ("Bash", "rejected"), ("Edit", "interrupted")]
    me = session_make("me", projects[0], tools=tools, files=[("h1", "py"), ("h2", "md"), ("h3", "py")])

    found = breakdown.session_breakdown(session=me)

    assert found["tools"] == [
        {
            "tool_name": "Bash",
            "calls": 3,
            "failures": 1,
            "rejections": 1,
            "interruptions": 0,
            "duration_ms": 30,
        },
        {
            "tool_name": "Edit",
            "calls": 1,
            "failures": 0,
            "rejections": 0,
            "interruptions": 1,
            "duration_ms": 10,
        },
    ]
    assert found["extensions"] == [
        {
            "file_extension": "py",
            "changes": 2,
            "rejected": 0,
            "reverted": 0,
            "lines_added": 6,
            "lines_removed": 2,
        },
        {
            "file_extension": "md",
            "changes": 1,
            "rejected": 0,
            "reverted": 0,
            "lines_added": 3,
            "lines_removed": 1,
        },
    ]
    assert found["turns"] == {}
