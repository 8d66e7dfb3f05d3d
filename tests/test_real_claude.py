"""Blueplane's capture under the real Claude Code CLI, offline, against the claude-real API stub.

`blueplane install claude-code` writes a fake HOME's settings.json, then the real `claude -p` runs
scripted scenarios (tests/support/real_claude.py has the harness, the stub and the clean
environment). Four runs, once per module:
  plain  no settings at all: the baseline output and exit code;
  ours   only our hooks (`files` scenario: Write, Read, Edit, Bash; a CLAUDE.md);
  both   our hooks and the harness's bash capture hook on every event: the count of real hook calls;
  error  only our hooks, an API error (exit 1): StopFailure, which the CLI SIGTERMs straight away.
The tests then check what reached Redis and, after the fast path, the raw trace store.

Skipped (with the reason) when no CLI is found: CI machines do not carry the ~400 MB binary. Run
`npm install --prefix tests/support/claude-real`, or set BLUEPLANE_TEST_CLAUDE_BIN.
"""

import collections
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest
from django.test import override_settings

from telemetry.capture import commands, installer
from telemetry.capture.importer import history_import
from telemetry.capture.privacy import Privacy
from telemetry.capture.tailer import Tailer
from telemetry.connections import redis_client
from telemetry.models import ClaudeRawTrace
from telemetry.store.units import session_events
from telemetry.wire import DLQ_STREAM, EVENTS_STREAM
from tests.support import real_claude
from tests.telemetry.capture.helpers import drain

HARNESS, SKIP_REASON = real_claude.harness_find()
pytestmark = [pytest.mark.e2e, pytest.mark.django_db]
if HARNESS is None:
    real_claude.unavailable(f"real Claude Code CLI unavailable: {SKIP_REASON}")

REQUIRED = {"SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"}
MARKER = "zebra-quartz-7731"  # in the prompt only: must never reach Redis or the store
PROMPT = (
    "[[scenario:files]] Create notes.txt with three lines, read it, change beta to BETA, "
    f"then list the directory. Private note: {MARKER}"
)
ERROR_PROMPT = f"[[scenario:api_error]] This request fails at the API. {MARKER}"
# Hook lines in the CLI's --debug-file, e.g.
#   Hooks: UserPromptSubmit [<command>] finished with status 0 (31ms)
#   SessionEnd:other [<command>] completed with status 0
HOOK_LOG = re.compile(r"\] (?:Hooks: )?(\w+)(?::\w+)? \[(.*)\] (?:finished|completed) with status (-?\d+)")


@dataclass
class Session:
    """One CLI invocation and what it left behind."""

    name: str
    session_id: str
    home: Path
    cwd: Path
    run: real_claude.Run
    debug_log: Path
    hook_statuses: list[tuple[str, str]] = field(default_factory=list)  # (event, status) of our hook

    def transcript_files(self) -> list[Path]:
        """This session's transcript (and its sub-agents', if any)."""
        projects = self.home / ".claude" / "projects"
        return sorted(
            [*projects.glob(f"*/{self.session_id}.jsonl"), *projects.glob(f"*/{self.session_id}/**/*.jsonl")]
        )

    def transcript_lines(self) -> list[dict]:
        return [
            json.loads(line)
            for p in self.transcript_files()
            for line in p.read_bytes().splitlines()
            if line.strip()
        ]


@dataclass
class RealRuns:
    bp_home: Path
    sessions: dict[str, Session]
    hook_entries: list[bytes]  # every telemetry:events entry our hooks wrote, as XADDed
    harness_calls: collections.Counter  # hook_capture.sh lines of the `both` run, per event

    def hook_events(self, name: str) -> list[dict]:
        sid = self.sessions[name].session_id
        return [e for e in map(orjson.loads, self.hook_entries) if e["session_id"] == sid]

    def hook_counts(self, name: str) -> collections.Counter:
        return collections.Counter(e["event_type"] for e in self.hook_events(name))


def _lines(path: Path) -> int:
    try:
        return len(path.read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def _our_hook_statuses(log: Path) -> list[tuple[str, str]]:
    text = log.read_text(errors="replace") if log.exists() else ""
    return [(m.group(1), m.group(3)) for m in HOOK_LOG.finditer(text) if installer.is_ours(m.group(2))]


@pytest.fixture(scope="module")
def real(tmp_path_factory, redis_server) -> RealRuns:
    """Install our hooks into fake HOMEs and run the real CLI four times (a few seconds in all)."""
    base = tmp_path_factory.mktemp("real-claude")
    bp_home = base / "bp"
    homes = {name: base / f"home-{name}" for name in ("plain", "ours", "both")}
    for home in homes.values():
        (home / ".claude").mkdir(parents=True)
    for name in ("ours", "both"):
        settings_path = homes[name] / ".claude" / "settings.json"
        with override_settings(
            BLUEPLANE_HOME=bp_home, CLAUDE_SETTINGS_PATH=settings_path, CLAUDE_BIN=str(HARNESS.claude_bin)
        ):
            assert commands.install("claude-code", dry_run=False) == 0
    both_settings = homes["both"] / ".claude" / "settings.json"
    data = json.loads(both_settings.read_text())
    for event, groups in real_claude.capture_hooks(HARNESS, sorted(data["hooks"])).items():
        data["hooks"][event] += groups
    both_settings.write_text(json.dumps(data, indent=2))
    harness_file = base / "harness-hooks.jsonl"

    client = redis_client()
    client.flushdb()
    plans = [
        ("plain", "plain", PROMPT, real_claude.SONNET, {}),
        ("ours", "ours", PROMPT, real_claude.SONNET, {}),
        ("both", "both", PROMPT, real_claude.SONNET, {"HOOK_CAPTURE_FILE": str(harness_file)}),
        ("error", "ours", ERROR_PROMPT, real_claude.HAIKU, {}),
    ]
    sessions = {}
    with real_claude.stub_server(HARNESS, base / "stub") as url:
        for name, home, prompt, model, env in plans:
            session_id = str(uuid.uuid4())
            cwd = real_claude.work_dir(base / f"work-{name}")
            debug_log = base / f"{name}.debug.txt"
            run = real_claude.claude_run(
                HARNESS,
                home=homes[home],
                cwd=cwd,
                base_url=url,
                prompt=prompt,
                session_id=session_id,
                model=model,
                env=env,
                extra_args=["--debug-file", str(debug_log)],
            )
            sessions[name] = Session(name, session_id, homes[home], cwd, run, debug_log)
            real_claude.settled(lambda: client.xlen(EVENTS_STREAM))
    real_claude.settled(lambda: _lines(harness_file))
    for session in sessions.values():
        session.hook_statuses = _our_hook_statuses(session.debug_log)
    entries = [fields[b"event"] for _, fields in client.xrange(EVENTS_STREAM)]
    client.flushdb()
    harness_calls = collections.Counter(
        json.loads(line)["event"] for line in harness_file.read_text().splitlines()
    )
    return RealRuns(bp_home=bp_home, sessions=sessions, hook_entries=entries, harness_calls=harness_calls)


def _store_hooks(redis, real: RealRuns) -> int:
    for entry in real.hook_entries:
        redis.xadd(EVENTS_STREAM, {"event": entry})
    return drain(redis)


def _tail_transcripts(redis, real: RealRuns, privacy: Privacy) -> int:
    """What `manage.py runcapture` does for each HOME's projects folder."""
    sent = 0
    for home in {s.home for s in real.sessions.values()}:
        tailer = Tailer(
            root=str(home / ".claude" / "projects"),
            client=redis,
            offsets_path=str(real.bp_home / "capture" / f"{home.name}-offsets.json"),
            privacy=privacy,
        )
        sent += tailer.poll()
    return sent


def _privacy(real: RealRuns) -> Privacy:
    return Privacy((real.bp_home / "salt").read_bytes())


def test_claude_accepts_the_settings_and_our_hooks_fire(real):
    for name in ("ours", "both", "error"):
        events = real.hook_events(name)
        assert events, f"{name}: no hook event reached Redis: Claude Code ignored the settings file?"
        assert {e["source"] for e in events} == {"hook"}
        assert {e["platform"] for e in events} == {"claude_code"}
    ours = real.hook_counts("ours")
    assert set(ours) >= REQUIRED, f"missing hook events: {REQUIRED - set(ours)}; got {dict(ours)}"
    assert ours["InstructionsLoaded"] == 1  # the work dir's CLAUDE.md
    assert ours["PreToolUse"] == ours["PostToolUse"] == 4  # Write, Read, Edit, Bash
    assert not (real.bp_home / "spool").exists() or not any((real.bp_home / "spool").iterdir())


def test_every_hook_call_is_stored_exactly_once(real, redis):
    # Ground truth 1: the harness's own hook, registered next to ours on every event.
    assert real.hook_counts("both") == real.harness_calls, "our events differ from the CLI's hook calls"
    # Ground truth 2: the CLI's debug log, one line per hook it ran.
    for name in ("ours", "both", "error"):
        logged = collections.Counter(event for event, _ in real.sessions[name].hook_statuses)
        assert real.hook_counts(name) == logged, name
    # The same calls in two runs of the same scenario give the same events.
    assert real.hook_counts("ours") == real.hook_counts("both")

    expected = sum(len(real.hook_events(n)) for n in ("ours", "both", "error"))
    assert len(real.hook_entries) == expected
    assert _store_hooks(redis, real) == expected
    assert redis.xlen(DLQ_STREAM) == 0
    stored = collections.Counter(
        ClaudeRawTrace.objects.filter(source="hook").values_list("event_type", flat=True)
    )
    assert stored == sum((real.hook_counts(n) for n in ("ours", "both", "error")), collections.Counter())
    # A second delivery (a replayed spool, a re-read stream) stores nothing new.
    _store_hooks(redis, real)
    assert ClaudeRawTrace.objects.filter(source="hook").count() == expected


def test_transcripts_reach_the_store(real, redis):
    privacy = _privacy(real)
    lines = {name: len(s.transcript_lines()) for name, s in real.sessions.items()}
    total = sum(lines.values())
    assert all(lines.values()), lines
    assert _tail_transcripts(redis, real, privacy) == total
    assert drain(redis) == total
    assert redis.xlen(DLQ_STREAM) == 0
    for name, session in real.sessions.items():
        stored = session_events(platform="claude_code", session_id=session.session_id)
        kinds = collections.Counter(orjson.loads(raw)["event_type"] for _, raw in stored)
        assert sum(kinds.values()) == lines[name], (name, kinds)
        assert kinds["user"] and kinds["assistant"], (name, kinds)
    # The importer builds the same envelopes: importing after tailing stores nothing new.
    for home in {s.home for s in real.sessions.values()}:
        history_import(str(home / ".claude" / "projects"), client=redis, privacy=privacy, progress=False)
    drain(redis)
    assert ClaudeRawTrace.objects.filter(source="transcript").count() == total


def test_prompt_text_stays_out_of_redis_and_the_store(real, redis):
    secrets = [MARKER.encode(), b"[[scenario:", b"alpha\\nbeta", b"wc -l notes.txt"]
    secrets += [str(s.cwd).encode() for s in real.sessions.values()]
    # The check means something: the CLI did write these into its transcripts.
    on_disk = b"".join(p.read_bytes() for s in real.sessions.values() for p in s.home.rglob("*.jsonl"))
    assert MARKER.encode() in on_disk and b"alpha\\nbeta" in on_disk

    hooks = b"\n".join(real.hook_entries)
    _tail_transcripts(redis, real, _privacy(real))
    transcripts = b"\n".join(fields[b"event"] for _, fields in redis.xrange(EVENTS_STREAM))
    for secret in secrets:
        assert secret not in hooks, f"{secret!r} reached Redis in a hook event"
        assert secret not in transcripts, f"{secret!r} reached Redis in a transcript event"
    prompts = [
        e["payload"]["prompt"] for e in real.hook_events("ours") if e["event_type"] == "UserPromptSubmit"
    ]
    assert prompts == [{"chars": len(PROMPT), "lines": 1, "hash": prompts[0]["hash"]}]

    for entry in real.hook_entries:
        redis.xadd(EVENTS_STREAM, {"event": entry})
    drain(redis)
    stored = b"\n".join(
        raw
        for s in real.sessions.values()
        for _, raw in session_events(platform="claude_code", session_id=s.session_id)
    )
    assert stored.count(b'"source":"hook"') == len(real.hook_entries)
    for secret in secrets:
        assert secret not in stored, f"{secret!r} reached the raw trace store"


def test_the_cli_behaves_exactly_as_without_our_hooks(real):
    plain, ours, both = (real.sessions[n] for n in ("plain", "ours", "both"))
    for session in (plain, ours, both):
        assert session.run.returncode == 0, (session.name, session.run.stderr)
    assert ours.run.stdout == plain.run.stdout == both.run.stdout
    assert ours.run.stdout.startswith("Done: notes.txt has 3 lines")
    assert ours.run.stderr == plain.run.stderr  # (the CLI's own notices, e.g. a model retirement date)
    # Every call of our hook exited 0, and none printed anything the CLI kept.
    for session in (ours, both, real.sessions["error"]):
        assert session.hook_statuses, session.name
        assert {status for _, status in session.hook_statuses} == {"0"}, session.hook_statuses
    for record in ours.transcript_lines():
        if record.get("subtype") == "stop_hook_summary":
            assert record["hookErrors"] == [] and record["hasOutput"] is False, record
        attachment = record.get("attachment") or {}
        assert not attachment.get("type", "").startswith("hook_") or not attachment.get("stdout"), record


def test_stop_failure_hook_survives_the_clis_sigterm(real):
    """Claude Code SIGTERMs a StopFailure hook's process group a few ms after starting it; before
    `trap '' TERM` in the installed command, the event was lost in most runs."""
    error = real.sessions["error"]
    assert error.run.returncode == 1  # the scripted API error
    assert real.hook_counts("error")["StopFailure"] == 1, real.hook_counts("error")
    assert ("StopFailure", "0") in error.hook_statuses, error.hook_statuses
