#!/usr/bin/env python3
"""Set up and run Blueplane from a fresh clone with nothing but Python 3.11+.

    python3 bootstrap.py up [--detach]    create .venv, install, then `blueplane up`
    python3 bootstrap.py test [ARGS]      create .venv, install with dev tools, then pytest ARGS

The virtual environment lives in .venv. Dependencies are installed again only when a requirements
file or pyproject.toml changed: a stamp in .venv holds the hash of what was last installed.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations  # so an older python3 gets to the version check below

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
PYTHON = BIN / "python"
REQUIREMENTS = {"up": "requirements.txt", "test": "requirements-dev.txt"}
USAGE = "usage: python3 bootstrap.py {up,test} [ARGS...]"


def fail(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr)
    sys.exit(1)


def requirement_files(name: str) -> list[Path]:
    """The file and every file it includes with -r, in order."""
    path = ROOT / name
    files = [path]
    for line in path.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2 and parts[0] in {"-r", "--requirement"}:
            files += requirement_files(str((path.parent / parts[1]).relative_to(ROOT)))
    return files


def install_digest(requirements: str) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for path in [*requirement_files(requirements), ROOT / "pyproject.toml"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run(args: list[str]) -> None:
    result = subprocess.run(args, cwd=ROOT, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        fail(f"`{' '.join(args)}` failed with exit code {result.returncode}")


def venv_ensure(requirements: str) -> None:
    """Create .venv if needed and install requirements and the project unless the stamp matches."""
    if not PYTHON.exists() or subprocess.run([PYTHON, "-c", ""], check=False).returncode != 0:
        print(f"bootstrap: creating {VENV}", file=sys.stderr)
        run([sys.executable, "-m", "venv", "--clear", str(VENV)])
    stamp = VENV / f".bootstrap-{requirements}.sha256"
    digest = install_digest(requirements)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    print(f"bootstrap: installing {requirements} and the project (first run takes a minute)", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "-r", str(ROOT / requirements)])
    # --no-deps: requirements files pin everything; the editable install adds the `blueplane` script.
    run([*pip, "--no-deps", "-e", str(ROOT)])
    stamp.write_text(digest + "\n")


def main(argv: list[str]) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs under whatever python3 the machine has
        fail(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not argv or argv[0] not in REQUIREMENTS:
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    command, rest = argv[0], argv[1:]
    venv_ensure(REQUIREMENTS[command])
    os.chdir(ROOT)
    if command == "up":
        blueplane = BIN / "blueplane"
        os.execv(blueplane, [str(blueplane), "up", *rest])
    if not rest:  # the whole suite (and CI): the tree must also pass the linter and the formatter
        run([str(BIN / "ruff"), "check", "."])
        run([str(BIN / "ruff"), "format", "--check", "."])
        # Two workers (pytest-xdist), each with its own home, database and embedded Redis
        # (tests/environment.py): the suite waits on real processes about as much as it computes, so
        # two halve its time even on CI's two cores. worksteal: a worker that runs out of tests takes
        # queued ones from the other, instead of idling while the other works through its queue.
        rest = ["-n", "2", "--dist", "worksteal"]
    # pytest's own exit code, so "no tests ran" (5) fails too.
    os.execv(PYTHON, [str(PYTHON), "-m", "pytest", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
