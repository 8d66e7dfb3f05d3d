"""The tools as plain functions on the corpus (in-process): the current session found from a working
directory, as capture keys its project."""

from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from api.mcp import tools

pytestmark = pytest.mark.django_db

FILES_SESSION = "6020e324-f726-4ac2-bb01-94fd89ba3a10"  # the only session in /home/dev/corpus/work/00-files


@pytest.fixture
def salted_home(settings, tmp_path: Path) -> Path:
    """A home with the salt the corpus was captured with (tests/conftest.py: Privacy(b"reports"))."""
    (tmp_path / "salt").write_bytes(b"reports")
    settings.BLUEPLANE_HOME = tmp_path
    return tmp_path


def test_current_session_of_a_working_directory_is_its_projects_latest(corpus, salted_home) -> None:
    found = tools.current_session(cwd="/home/dev/corpus/work/00-files")

    assert found["session_id"] == FILES_SESSION and found["project"] == "00-files"


def test_current_session_of_a_directory_never_captured_is_an_error(corpus, salted_home) -> None:
    with pytest.raises(ToolError, match="no session in '/nowhere'"):
        tools.current_session(cwd="/nowhere")


def test_current_session_without_a_salt_says_nothing_was_captured(corpus, settings, tmp_path) -> None:
    settings.BLUEPLANE_HOME = tmp_path
    with pytest.raises(ToolError, match="nothing was captured"):
        tools.current_session(cwd="/home/dev/corpus/work/00-files")


def test_current_session_of_a_project_by_name(corpus) -> None:
    assert tools.current_session(project="00-files")["session_id"] == FILES_SESSION


@pytest.mark.parametrize("cwd", ["relative/dir", ".", "/a\x00b", ""])
def test_current_session_needs_an_absolute_directory(corpus, salted_home, cwd: str) -> None:
    with pytest.raises(ToolError, match="absolute path"):
        tools.current_session(cwd=cwd)
