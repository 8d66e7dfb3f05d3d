"""Realistic wire-format envelopes (docs/wire-format.md) for the benchmarks and the dictionary trainer.

`envelopes_generate(n, seed)` synthesises about a dozen concurrently active sessions: Claude Code hook
payloads and transcript records, and Cursor hook events. Adapted from bench/limits/gen_events.py.
Text is real: code is windows of the Python standard library and npm's JavaScript sources on this
machine, prose is their docstrings, so compression ratios are honest. Ids (uuid4, toolu_/msg_/req_)
are random as in real traffic, drawn from the seeded generator, so the output is deterministic per
seed (on one machine: the corpus is the local stdlib and npm).

Payloads carry content, i.e. the case of a user who opted in to storing it; that is the larger and
harder case for the store (the default, privacy-filtered payloads are mostly ids, sizes and hashes).

`fixture_envelopes()` wraps the real Claude Code output in tests/fixtures/claude-real (hook payloads
and transcript records) in envelopes, with the ids and timestamps a producer would give them.

Both return compact UTF-8 JSON, one bytes object per event: the value of the `event` field of an
`XADD telemetry:events * event <json>`.
"""

import ast
import hashlib
import json
import random
import shutil
import string
import sys
import sysconfig
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures/claude-real"

B62 = string.ascii_letters + string.digits
MODELS = ["claude-sonnet-4-5-20250929"] * 6 + ["claude-opus-4-1-20250805"] * 2 + ["claude-haiku-4-5-20251001"]
VERSIONS = ["2.0.14", "2.0.21", "2.0.27", "2.0.31"]
CURSOR_VERSIONS = ["1.7.38", "1.7.44", "2.0.34"]
USERS = ["alice", "bob", "carol", "dmitri", "erin", "farah"]
PROJECTS = ["acme-api", "billing-service", "web-dashboard", "telemetry", "infra-tools", "ml-pipeline"]
BRANCHES = ["main", "main", "feat/retry-backoff", "fix/session-timeout", "chore/deps", "refactor/storage"]
TOOLS = ["Read", "Edit", "Bash", "Grep", "Write", "Glob", "TodoWrite", "Task", "WebFetch"]
TOOL_WEIGHTS = [25, 22, 25, 8, 5, 5, 5, 3, 2]

# One generated event before it is wrapped: (platform, source, event_type, hook_type, payload, timestamp,
# metadata).
Record = tuple[str, str, str, str | None, dict[str, Any], str, dict[str, Any]]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digest(text: str, n: int = 16) -> str:
    return hashlib.blake2b(text.encode(), digest_size=n // 2).hexdigest()


@cache
def _corpus_texts() -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...]]:
    """(relative path, lines) of real source files and a list of docstrings; read once per process."""
    files: list[tuple[str, tuple[str, ...]]] = []
    prose: list[str] = []
    std = Path(sysconfig.get_paths()["stdlib"])
    for p in sorted(std.glob("*.py")) + sorted(std.glob("*/*.py")):
        if "test" in p.parts or "site-packages" in p.parts or p.stat().st_size < 2000:
            continue
        text = p.read_text(errors="replace")
        files.append((str(p.relative_to(std)), tuple(text.splitlines())))
        try:
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Module):
                    doc = ast.get_docstring(node)
                    if doc and 40 < len(doc) < 600:
                        prose.append(" ".join(doc.split()))
        except (SyntaxError, ValueError):
            pass
    npm = shutil.which("npm")
    if npm:
        lib = Path(npm).resolve().parent.parent / "lib"
        for p in sorted(lib.rglob("*.js"))[:400]:
            if p.stat().st_size > 2000:
                rel = "lib/" + str(p.relative_to(lib))
                files.append((rel, tuple(p.read_text(errors="replace").splitlines())))
    return tuple(files), tuple(prose)


class Corpus:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.files, self.prose = _corpus_texts()

    def snippet(self, lo: int, hi: int) -> tuple[str, int, str]:
        """A window of real source whose size is roughly lo..hi bytes: (path, first line, text)."""
        name, lines = self.rng.choice(self.files)
        target = self.rng.randint(lo, hi)
        start = self.rng.randrange(max(1, len(lines) - 20))
        out, n = [], 0
        for line in lines[start:]:
            out.append(line)
            n += len(line) + 1
            if n >= target:
                break
        return name, start + 1, "\n".join(out)

    def sentences(self, lo: int, hi: int) -> str:
        out, n = [], 0
        target = self.rng.randint(lo, hi)
        while n < target:
            s = self.rng.choice(self.prose)
            out.append(s)
            n += len(s) + 1
        return " ".join(out)[: max(hi, 40)]


def rid(rng: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(B62) for _ in range(n))


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Session:
    """One Claude Code session or Cursor conversation emitting a plausible event sequence."""

    def __init__(self, rng: random.Random, corpus: Corpus, t0: datetime, *, salt: str, cursor: bool) -> None:
        self.rng, self.c, self.cursor = rng, corpus, cursor
        self.user = rng.choice(USERS)
        self.project = rng.choice(PROJECTS)
        self.cwd = f"/home/{self.user}/src/{self.project}"
        self.project_hash = _digest(salt + self.cwd)
        self.sid = uid(rng)
        self.t = t0
        self.parent: str | None = None
        self.model = rng.choice(MODELS)
        self.version = rng.choice(CURSOR_VERSIONS if cursor else VERSIONS)
        self.branch = rng.choice(BRANCHES)
        self.transcript = f"/home/{self.user}/.claude/projects/{self.cwd.replace('/', '-')}/{self.sid}.jsonl"
        self.file_identity = _digest(salt + self.transcript)
        self.offset = 0  # bytes of the transcript file read so far
        self.perm = rng.choice(["default", "default", "acceptEdits", "plan", "bypassPermissions"])
        self.gen = ""

    def tick(self) -> tuple[str, str]:
        """Advance the session clock: (event time, capture time a few ms later)."""
        self.t += timedelta(milliseconds=self.rng.expovariate(1 / 2500))
        capture = self.t + timedelta(milliseconds=self.rng.randint(2, 400))
        return _iso(self.t), _iso(capture)

    def path(self, rel: str) -> str:
        return f"{self.cwd}/src/{rel}"

    # ---- tool calls -------------------------------------------------------------------------------
    def tool_call(self) -> tuple[str, dict, dict, str, tuple[int, int] | None]:
        """(tool, input, response, result text, (lines added, lines removed) for edits)."""
        r, c = self.rng, self.c
        tool = r.choices(TOOLS, TOOL_WEIGHTS)[0]
        if tool == "Read":
            name, start, text = c.snippet(400, 3000)
            fp = self.path(name)
            inp = {"file_path": fp} if r.random() < 0.7 else {"file_path": fp, "offset": start, "limit": 120}
            numbered = "\n".join(f"{start + i:>6}\u2192{line}" for i, line in enumerate(text.splitlines()))
            resp = {
                "type": "text",
                "file": {
                    "filePath": fp,
                    "content": text,
                    "numLines": text.count("\n") + 1,
                    "startLine": start,
                    "totalLines": start + r.randint(40, 900),
                },
            }
            return tool, inp, resp, numbered, None
        if tool in ("Edit", "Write"):
            name, start, old = c.snippet(80, 800 if tool == "Edit" else 2500)
            fp = self.path(name)
            if tool == "Write":
                inp = {"file_path": fp, "content": old}
                resp = {"type": "create", "filePath": fp, "content": old, "structuredPatch": []}
                return tool, inp, resp, f"File created successfully at: {fp}", (old.count("\n") + 1, 0)
            lines = old.splitlines()
            new_lines = list(lines)
            changed = set()
            for _ in range(r.randint(1, 3)):
                i = r.randrange(len(new_lines))
                new_lines[i] = new_lines[i].replace("self", "ctx", 1) + r.choice(["  # noqa", "", " or None"])
                changed.add(i)
            new = "\n".join(new_lines)
            inp = {"file_path": fp, "old_string": old, "new_string": new}
            if r.random() < 0.1:
                inp["replace_all"] = False
            hunk = {
                "oldStart": start,
                "oldLines": len(lines),
                "newStart": start,
                "newLines": len(new_lines),
                "lines": [f"-{x}" for x in lines[:6]] + [f"+{x}" for x in new_lines[:6]],
            }
            resp = {
                "filePath": fp,
                "oldString": old,
                "newString": new,
                "originalFile": None,
                "structuredPatch": [hunk],
                "userModified": False,
                "replaceAll": False,
            }
            text = (
                f"The file {fp} has been updated. Here's the result of running "
                f"`cat -n` on a snippet of the edited file:\n" + new[:600]
            )
            return tool, inp, resp, text, (len(changed), len(changed))
        if tool == "Bash":
            kind = r.choice(["pytest", "git", "ls", "rg", "npm", "py"])
            if kind == "pytest":
                mod = Path(r.choice(c.files)[0]).stem
                cmd = f"python -m pytest -q tests/test_{mod}.py -x"
                n = r.randint(3, 120)
                dots = "".join(r.choice(".....F.s") for _ in range(n))
                out = dots + f"\n{n} passed in {r.uniform(0.2, 30):.2f}s"
            elif kind == "git":
                cmd = r.choice(
                    [
                        "git status",
                        "git diff --stat",
                        "git log --oneline -10",
                        "git add -A && git commit -m 'wip'",
                    ]
                )
                out = "\n".join(f" M src/{r.choice(c.files)[0]}" for _ in range(r.randint(1, 12)))
            elif kind == "ls":
                d = Path(r.choice(c.files)[0]).parent
                cmd = f"ls -la src/{d}"
                out = "\n".join(
                    f"-rw-r--r-- 1 {self.user} {self.user} {r.randint(200, 90000):>6} "
                    f"Oct {r.randint(1, 30):>2} {r.randint(0, 23):02}:{r.randint(0, 59):02} "
                    f"{Path(f[0]).name}"
                    for f in r.sample(c.files, r.randint(3, 25))
                )
            elif kind == "rg":
                name, start, text = c.snippet(200, 2500)
                words = [w for w in text.replace("(", " ").split() if w.isidentifier()]
                ident = r.choice(words or ["self"])
                cmd = f"rg -n '{ident}' src/"
                out = "\n".join(f"src/{name}:{start + i}:{line}" for i, line in enumerate(text.splitlines()))
            elif kind == "npm":
                cmd = r.choice(["npm run build", "npm test", "npm run lint"])
                _, _, out = c.snippet(100, 1500)
            else:
                cmd = f"python -c \"import {Path(r.choice(c.files)[0]).stem}; print('ok')\""
                out = "ok"
            inp = {"command": cmd, "description": c.sentences(20, 60)[:60]}
            if r.random() < 0.2:
                inp["timeout"] = 120000
            resp = {"stdout": out, "stderr": "", "interrupted": False, "isImage": False}
            return tool, inp, resp, out, None
        if tool == "Grep":
            inp = {
                "pattern": r.choice(["def \\w+_handler", "TODO", "import json", "class .*Error"]),
                "path": self.cwd,
                "output_mode": r.choice(["files_with_matches", "content"]),
                "glob": r.choice(["*.py", "**/*.ts", "*.js"]),
            }
            files = [self.path(f[0]) for f in r.sample(c.files, r.randint(1, 15))]
            resp = {"mode": inp["output_mode"], "filenames": files, "numFiles": len(files)}
            return tool, inp, resp, "\n".join(files), None
        if tool == "Glob":
            inp = {"pattern": r.choice(["**/*.py", "src/**/*.ts", "tests/**/test_*.py"])}
            files = [self.path(f[0]) for f in r.sample(c.files, r.randint(1, 30))]
            resp = {
                "filenames": files,
                "durationMs": r.randint(2, 80),
                "numFiles": len(files),
                "truncated": False,
            }
            return tool, inp, resp, "\n".join(files), None
        if tool == "TodoWrite":
            todos = [
                {
                    "content": c.sentences(20, 70)[:70],
                    "status": r.choice(["pending", "in_progress", "completed"]),
                    "activeForm": c.sentences(20, 60)[:60],
                }
                for _ in range(r.randint(2, 7))
            ]
            inp = {"todos": todos}
            resp = {"oldTodos": todos[:-1], "newTodos": todos}
            return tool, inp, resp, "Todos have been modified successfully.", None
        if tool == "Task":
            inp = {
                "description": c.sentences(10, 40)[:40],
                "prompt": c.sentences(150, 900),
                "subagent_type": r.choice(["general-purpose", "Explore", "Plan"]),
            }
            text = c.sentences(200, 1500)
            resp = {
                "status": "completed",
                "content": [{"type": "text", "text": text}],
                "totalDurationMs": r.randint(5000, 200000),
                "totalTokens": r.randint(5000, 90000),
                "totalToolUseCount": r.randint(1, 40),
            }
            return tool, inp, resp, text, None
        url = f"https://docs.example.com/{self.project}/{r.choice(c.files)[0].replace('.py', '.html')}"
        inp = {"url": url, "prompt": c.sentences(30, 120)}
        text = c.sentences(200, 1500)
        resp = {
            "bytes": r.randint(2000, 200000),
            "code": 200,
            "codeText": "OK",
            "result": text,
            "durationMs": r.randint(100, 5000),
            "url": url,
        }
        return tool, inp, resp, text, None

    # ---- Claude Code ------------------------------------------------------------------------------
    def hook(self, name: str, *, lines: tuple[int, int] | None = None, **extra: Any) -> Record:
        payload = {
            "session_id": self.sid,
            "transcript_path": self.transcript,
            "cwd": self.cwd,
            "permission_mode": self.perm,
            "hook_event_name": name,
            **extra,
        }
        ts, capture = self.tick()
        meta: dict[str, Any] = {"capture_ts": capture, "project": self.project_hash}
        if lines:
            meta["lines_added"], meta["lines_removed"] = lines
        return "claude_code", "hook", name, name, payload, ts, meta

    def line(self, typ: str, message: dict, **extra: Any) -> Record:
        u = uid(self.rng)
        ts, capture = self.tick()
        record = {
            "parentUuid": self.parent,
            "isSidechain": False,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.sid,
            "version": self.version,
            "gitBranch": self.branch,
            "type": typ,
            "message": message,
            "uuid": u,
            "timestamp": ts,
            **extra,
        }
        self.parent = u
        meta = {
            "capture_ts": capture,
            "file": self.file_identity,
            "offset": self.offset,
            "project": self.project_hash,
        }
        self.offset += len(_dumps(record).encode()) + 1
        return "claude_code", "transcript", typ, None, record, ts, meta

    def usage(self) -> dict[str, Any]:
        r = self.rng
        return {
            "input_tokens": r.randint(1, 12),
            "cache_creation_input_tokens": r.choice([0, 0, r.randint(100, 9000)]),
            "cache_read_input_tokens": r.randint(8000, 160000),
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": r.randint(1, 1800),
            "service_tier": "standard",
        }

    def assistant(self, content: list[dict], msg_id: str, req_id: str) -> Record:
        msg = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": self.usage(),
        }
        return self.line("assistant", msg, requestId=req_id)

    def claude_turn(self) -> list[Record]:
        r, c = self.rng, self.c
        ev = []
        prompt = c.sentences(20, 400) if r.random() < 0.8 else c.snippet(300, 2000)[2]
        ev.append(self.hook("UserPromptSubmit", prompt=prompt))
        ev.append(self.line("user", {"role": "user", "content": prompt}))
        for _ in range(r.choice([0, 1, 1, 2, 2, 3, 4, 6])):
            msg_id, req_id = rid(r, "msg_01", 22), rid(r, "req_011C", 20)
            if r.random() < 0.6:
                ev.append(self.assistant([{"type": "text", "text": c.sentences(30, 500)}], msg_id, req_id))
            tool, inp, resp, result_text, lines = self.tool_call()
            tu_id = rid(r, "toolu_01", 22)
            block = {"type": "tool_use", "id": tu_id, "name": tool, "input": inp}
            ev.append(self.assistant([block], msg_id, req_id))
            ev.append(self.hook("PreToolUse", tool_name=tool, tool_input=inp, tool_use_id=tu_id))
            ev.append(
                self.hook(
                    "PostToolUse",
                    lines=lines,
                    tool_name=tool,
                    tool_input=inp,
                    tool_response=resp,
                    tool_use_id=tu_id,
                )
            )
            result = {"tool_use_id": tu_id, "type": "tool_result", "content": result_text}
            ev.append(self.line("user", {"role": "user", "content": [result]}, toolUseResult=resp))
        text = c.sentences(40, 900)
        ev.append(
            self.assistant([{"type": "text", "text": text}], rid(r, "msg_01", 22), rid(r, "req_011C", 20))
        )
        ev.append(self.hook("Stop", stop_hook_active=False))
        if r.random() < 0.08:
            ev.append(self.hook("Notification", message="Claude needs your permission to use Bash"))
        return ev

    # ---- Cursor -----------------------------------------------------------------------------------
    def cursor_event(self, name: str, **extra: Any) -> Record:
        payload = {
            "conversation_id": self.sid,
            "generation_id": self.gen,
            "model": self.model.split("-2")[0],
            "hook_event_name": name,
            "cursor_version": self.version,
            "workspace_roots": [self.cwd],
            "user_email": f"{self.user}@example.com",
            **extra,
        }
        ts, capture = self.tick()
        meta = {"capture_ts": capture, "project": self.project_hash}
        return "cursor", "hook", name, name, payload, ts, meta

    def cursor_turn(self) -> list[Record]:
        r, c = self.rng, self.c
        self.gen = uid(r)
        attachments = [
            {"type": "file", "filePath": self.path(r.choice(c.files)[0])} for _ in range(r.randint(0, 2))
        ]
        ev = [self.cursor_event("beforeSubmitPrompt", prompt=c.sentences(20, 400), attachments=attachments)]
        for _ in range(r.randint(1, 5)):
            k = r.random()
            if k < 0.35:
                fp = self.path(r.choice(c.files)[0])
                ev.append(self.cursor_event("beforeReadFile", file_path=fp, content=c.snippet(300, 3000)[2]))
            elif k < 0.7:
                name, _, old = c.snippet(60, 700)
                edit = {"old_string": old, "new_string": old.replace("return", "return  # patched", 1)}
                ev.append(self.cursor_event("afterFileEdit", file_path=self.path(name), edits=[edit]))
            else:
                _, inp, resp, _, _ = self.tool_call()
                cmd = inp.get("command", "git status")
                ev.append(self.cursor_event("beforeShellExecution", command=cmd, cwd=self.cwd))
                ev.append(
                    self.cursor_event(
                        "afterShellExecution",
                        command=cmd,
                        output=str(resp.get("stdout", ""))[:2000],
                        duration=r.randint(20, 9000),
                    )
                )
        ev.append(self.cursor_event("afterAgentResponse", text=c.sentences(40, 800)))
        ev.append(self.cursor_event("stop", status="completed", loop_count=0))
        return ev


def envelope_encode(
    *,
    event_id: str,
    platform: str,
    source: str,
    event_type: str,
    session_id: str,
    timestamp: str,
    payload: dict[str, Any],
    hook_type: str | None,
    metadata: dict[str, Any] | None,
) -> bytes:
    """One envelope as compact JSON, fields in the order docs/wire-format.md lists them."""
    env = {
        "event_id": event_id,
        "platform": platform,
        "source": source,
        "event_type": event_type,
        "session_id": session_id,
        "timestamp": timestamp,
        "payload": payload,
        "hook_type": hook_type,
        "metadata": metadata,
    }
    return _dumps(env).encode()


def _record_encode(record: Record, session_id: str) -> bytes:
    platform, source, event_type, hook_type, payload, ts, meta = record
    body = _dumps(payload)
    if source == "transcript":
        event_id = f"cc:t:{session_id}:{payload['uuid']}"
    elif platform == "claude_code":
        event_id = "cc:h:" + hashlib.sha256((body + meta["capture_ts"]).encode()).hexdigest()
    else:
        event_id = "cu:h:" + hashlib.sha256((body + meta["capture_ts"]).encode()).hexdigest()
    return envelope_encode(
        event_id=event_id,
        platform=platform,
        source=source,
        event_type=event_type,
        session_id=session_id,
        timestamp=ts,
        payload=payload,
        hook_type=hook_type,
        metadata=meta,
    )


def envelopes_generate(n: int, seed: int = 7) -> list[bytes]:
    """n envelopes of ~12 interleaved sessions (20% Cursor), deterministic for a seed."""
    rng = random.Random(seed)
    corpus = Corpus(rng)
    salt = rid(rng, "", 16)  # the per-install salt that hashes project paths
    t0 = datetime(2025, 10, 20, 8, 0, tzinfo=UTC) + timedelta(days=seed % 97)
    sessions: list[Session] = []
    out: list[tuple[Session, Record]] = []
    while len(out) < n:
        if len(sessions) < 12 or rng.random() < 0.02:  # ~12 live sessions, occasionally a new one
            cursor = rng.random() < 0.2
            start = t0 + timedelta(seconds=len(out) * 0.6)
            s = Session(rng, corpus, start, salt=salt, cursor=cursor)
            sessions.append(s)
            if not cursor:
                out.append((s, s.hook("SessionStart", source="startup")))
        s = rng.choice(sessions)
        out.extend((s, rec) for rec in (s.cursor_turn() if s.cursor else s.claude_turn()))
        if rng.random() < 0.03 and len(sessions) > 6:
            s = sessions.pop(rng.randrange(len(sessions)))
            if not s.cursor:
                out.append((s, s.hook("SessionEnd", reason="exit")))
    return [_record_encode(rec, s.sid) for s, rec in out[:n]]


def _epoch_iso(ts: float) -> str:
    return _iso(datetime.fromtimestamp(ts, UTC))


def fixture_envelopes(root: Path = FIXTURES) -> list[bytes]:
    """The real Claude Code fixtures as envelopes: every hook call of hooks.jsonl, then every
    transcript record under projects/ (sub-agent files included)."""
    out: list[bytes] = []
    with open(root / "hooks.jsonl", "rb") as f:
        for line in f:
            if not line.strip():
                continue
            call = json.loads(line)
            payload = call["payload"]
            ts = _epoch_iso(call["ts"])
            name = payload.get("hook_event_name") or call["event"]
            digest = hashlib.sha256((_dumps(payload) + ts).encode()).hexdigest()
            out.append(
                envelope_encode(
                    event_id=f"cc:h:{digest}",
                    platform="claude_code",
                    source="hook",
                    event_type=name,
                    session_id=payload["session_id"],
                    timestamp=ts,
                    payload=payload,
                    hook_type=name,
                    metadata={"capture_ts": ts, "project": _digest(payload.get("cwd", ""))},
                )
            )
    projects = root / "projects"
    for path in sorted(projects.rglob("*.jsonl")):
        rel = str(path.relative_to(projects))
        identity = _digest(rel)
        data = path.read_bytes()
        lines = data.split(b"\n")
        records = [json.loads(raw) if raw.strip() else None for raw in lines]
        # Records without a time (bookkeeping lines) take the time of the record before them, or the
        # file's first time; the file stem stands in for records without a session id.
        last_ts = next((r["timestamp"] for r in records if r and r.get("timestamp")), "2025-01-01T00:00:00Z")
        offset = 0
        for raw, record in zip(lines, records, strict=True):
            if record is not None and isinstance(record, dict):
                last_ts = record.get("timestamp") or last_ts
                session_id = record.get("sessionId") or path.stem
                uuid_ = record.get("uuid")
                event_id = f"cc:t:{session_id}:{uuid_}" if uuid_ else f"cc:t:{identity}:{offset}"
                out.append(
                    envelope_encode(
                        event_id=event_id,
                        platform="claude_code",
                        source="transcript",
                        event_type=str(record.get("type") or "unknown"),
                        session_id=session_id,
                        timestamp=last_ts,
                        payload=record,
                        hook_type=None,
                        metadata={"capture_ts": last_ts, "file": identity, "offset": offset},
                    )
                )
            offset += len(raw) + 1
    return out


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write generated envelopes as JSON lines.")
    parser.add_argument("n", type=int, nargs="?", default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fixtures", action="store_true", help="the fixture envelopes instead")
    args = parser.parse_args()
    events = fixture_envelopes() if args.fixtures else envelopes_generate(args.n, args.seed)
    sizes = sorted(map(len, events))
    for e in events:
        print(e.decode())
    print(
        f"{len(events)} events, {sum(sizes) / 1e6:.1f} MB, bytes p50={sizes[len(sizes) // 2]} "
        f"p90={sizes[len(sizes) * 9 // 10]} max={sizes[-1]}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
