"""`blueplane import cursor`: one full read of the fixture into the stream, a summary per workspace, and
a second import that stores nothing again."""

import pytest

from blueplane.cli import main
from telemetry.models import CursorRawTrace
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.support.cursor import GROUND_TRUTH, cursor_home

from .helpers import drain
from .test_cursor_db import CANARY

pytestmark = pytest.mark.django_db


def test_importing_twice_stores_everything_once_and_says_what_per_workspace(redis, capsys, tmp_path):
    home = cursor_home(tmp_path)
    assert main(["import", "cursor", str(home)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[-3:] for line in out[1:4]}
    # A row is named by the workspace's folder (the .code-workspace file's, for a multi-root one).
    for workspace in GROUND_TRUTH["workspaces"]:
        first = workspace["label"].split()[0]
        messages = workspace["user_messages"] + workspace["assistant_messages"]
        assert rows[first] == [str(workspace["conversations"]), str(messages), str(workspace["tool_calls"])]
    assert out[4] == "generations: 14; AI tracking: 3 scored commits, 27 AI code rows"
    sent = redis.xlen(EVENTS_STREAM)
    assert out[5] == f"read {sent} events; {sent} new, 0 already stored"
    assert out[6] == f"{sent} events queued; they are stored when Blueplane runs (`blueplane up`)"
    drain(redis)
    assert redis.xlen(DLQ_STREAM) == 0
    assert CursorRawTrace.objects.count() == sent
    assert not any(CANARY in f[b"event"] for _, f in redis.xrange(EVENTS_STREAM))

    assert main(["import", "cursor", str(home)]) == 0
    assert capsys.readouterr().out.splitlines()[5] == f"read {sent} events; 0 new, {sent} already stored"
    assert redis.xlen(EVENTS_STREAM) == sent


def test_a_home_without_cursor_data_is_one_line_and_exit_1(redis, capsys, tmp_path):
    assert main(["import", "cursor", str(tmp_path)]) == 1
    assert "no Cursor data" in capsys.readouterr().err
    assert main(["import", "cursor", str(tmp_path / "missing")]) == 2
