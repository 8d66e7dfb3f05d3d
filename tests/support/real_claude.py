"""Run the real Claude Code CLI offline, against the claude-real harness's stub of the Anthropic API.

The harness (tests/support/claude-real, see its README) provides `stub_server.py` (a scripted
Messages API on 127.0.0.1), `hook_capture.sh` (a bash hook that appends one line per hook call: the
ground truth for "how many hook calls were there") and `package.json` (`npm install` there brings
claude 2.1.331, a ~400 MB native binary). This module finds the CLI, starts the stub and runs one
`claude -p` invocation with a clean environment and a fake HOME, so the user's ~/.claude is never
read or written.

Where things are looked for:
- the CLI: $BLUEPLANE_TEST_CLAUDE_BIN, else node_modules/.bin/claude under tests/support/claude-real,
  then under /tmp/claude-real (with the platform package's binary when npm skipped the postinstall
  that links it there);
- the harness scripts: $BLUEPLANE_TEST_CLAUDE_HARNESS, else tests/support/claude-real.
"""

import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_ENV = "BLUEPLANE_TEST_CLAUDE_BIN"
HARNESS_ENV = "BLUEPLANE_TEST_CLAUDE_HARNESS"
HARNESS_DIR = Path(__file__).resolve().parent / "claude-real"
BUILDS = (HARNESS_DIR, Path("/tmp/claude-real"))  # where `npm install` may have put the CLI
HARNESS_FILES = ("stub_server.py", "hook_capture.sh")
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"


@dataclass(frozen=True)
class Harness:
    claude_bin: Path
    root: Path  # holds stub_server.py and hook_capture.sh

    @property
    def capture_hook(self) -> Path:
        return self.root / "hook_capture.sh"


@dataclass(frozen=True)
class Run:
    """One CLI invocation: exit code, output and wall time (from spawn to exit)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def unavailable(why: str) -> None:
    """A test cannot run because the real CLI (or ccusage, or tmux, installed beside it for CI) is
    missing: skip, saying why, on a developer's machine; fail under BLUEPLANE_TEST_REAL_CLAUDE=required
    (CI, .ci/run), so what CI reports as passed was really run."""
    if os.environ.get("BLUEPLANE_TEST_REAL_CLAUDE") == "required":
        pytest.fail(f"required but unavailable: {why}", pytrace=False)
    pytest.skip(why)


def _platform_binary(node_modules: Path) -> Path | None:
    found = sorted(node_modules.glob("@anthropic-ai/claude-code-*/claude"))
    return found[0] if found else None


def _usable(path: Path) -> bool:
    # The npm wrapper's bin/claude.exe is a small placeholder until its postinstall links the binary.
    try:
        real = path.resolve(strict=True)
    except OSError:
        return False
    return real.is_file() and os.access(real, os.X_OK) and real.stat().st_size >= 1 << 20


def claude_bin_find() -> tuple[Path | None, str]:
    """(the CLI binary, "") or (None, why not)."""
    given = os.environ.get(BIN_ENV)
    if given:
        path = Path(given).expanduser()
        if _usable(path):
            return path, ""
        return None, f"{BIN_ENV}={given} is not an executable Claude Code binary"
    for build in BUILDS:
        for candidate in (
            build / "node_modules" / ".bin" / "claude",
            _platform_binary(build / "node_modules"),
        ):
            if candidate and _usable(candidate):
                return candidate, ""
    return None, (
        "no Claude Code CLI: run `npm install --prefix tests/support/claude-real` "
        f"(a ~400 MB binary), or set {BIN_ENV}"
    )


def _harness_root() -> tuple[Path | None, str]:
    root = Path(os.environ.get(HARNESS_ENV) or HARNESS_DIR).expanduser()
    if all((root / name).is_file() for name in HARNESS_FILES):
        return root, ""
    return None, f"claude-real harness ({', '.join(HARNESS_FILES)}) not found in {root}"


def harness_find() -> tuple[Harness | None, str]:
    """(the harness, "") or (None, the reason to skip)."""
    claude_bin, why = claude_bin_find()
    if claude_bin is None:
        return None, why
    root, why = _harness_root()
    if root is None:
        return None, why
    for tool in ("bash", "flock", "git"):
        if not shutil.which(tool):
            return None, f"`{tool}` is not on PATH (the harness's capture hook and work dirs need it)"
    return Harness(claude_bin=claude_bin, root=root), ""


def settled(count, *, quiet_s: float = 0.5, timeout_s: float = 5.0, some: bool = False) -> int:
    """Wait until count() stops changing for quiet_s (with `some`, and is above 0): the CLI does not wait
    for every hook before it exits, and exports OpenTelemetry a last time as it does. Returns the count."""
    last, since = count(), time.monotonic()
    deadline = since + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
        elif (now or not some) and time.monotonic() - since >= quiet_s:
            break
    return last


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def stub_server(harness: Harness, logdir: Path, *, timeout_s: float = 10.0) -> Iterator[str]:
    """Start the harness's API stub on a free port; yields its base URL, stops it (by pid) after."""
    logdir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                str(harness.root / "stub_server.py"),
                "--port",
                str(port),
                "--logdir",
                str(logdir),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout_s
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                line = proc.stdout.readline()
                break
        if "listening" in line:
            break
        proc.kill()
        proc.wait()
    else:
        raise RuntimeError(f"the API stub did not start: {line or 'no output'}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def work_dir(path: Path, *, claude_md: bool = True) -> Path:
    """A git-initialised project folder (with a CLAUDE.md, which fires InstructionsLoaded)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if claude_md:
        (path / "CLAUDE.md").write_text("# Project notes\nKeep answers short.\n")
    return path


def claude_env(home: Path, base_url: str, **extra: str) -> dict[str, str]:
    """A clean environment (like `env -i`): fake HOME, the stub as API, nothing non-essential."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "SHELL": "/bin/bash",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-test",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        **extra,
    }
    if os.geteuid() == 0:
        # --dangerously-skip-permissions is refused for root unless this is set.
        env["IS_SANDBOX"] = "1"
    return env


def claude_run(
    harness: Harness,
    *,
    home: Path,
    cwd: Path,
    base_url: str,
    prompt: str,
    session_id: str,
    model: str = SONNET,
    output_format: str = "text",
    timeout_s: float = 60.0,
    env: dict[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> Run:
    """One `claude -p` invocation in `cwd` with HOME=`home` (its .claude/settings.json applies)."""
    args = [
        str(harness.claude_bin), "-p", prompt, "--session-id", session_id, "--model", model,
        "--dangerously-skip-permissions", "--output-format", output_format,
    ]  # fmt: skip
    if output_format == "stream-json":
        args.append("--verbose")
    args += extra_args or []
    started = time.monotonic()
    proc = subprocess.run(
        args,
        cwd=cwd,
        env=claude_env(home, base_url, **(env or {})),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def capture_hooks(harness: Harness, events: list[str]) -> dict[str, list]:
    """`hooks` entries that run the harness's hook_capture.sh for each event (it reads
    $HOOK_CAPTURE_FILE), to be merged next to ours."""
    return {
        event: [
            {
                "matcher": "*",
                "hooks": [
                    {"type": "command", "command": f"bash {harness.capture_hook} {event}", "timeout": 30}
                ],
            }
        ]
        for event in events
    }
