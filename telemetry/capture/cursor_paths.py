"""Where Cursor keeps its data on this machine, and which folders each workspace stands for.

Cursor (a VS Code fork) keeps a "User" folder (`~/.config/Cursor/User` on Linux, `~/Library/Application
Support/Cursor/User` on macOS, `%APPDATA%\\Cursor\\User` on Windows) holding the global
`globalStorage/state.vscdb` and one `workspaceStorage/<id>/state.vscdb` per workspace, and
`~/.cursor/ai-tracking/ai-code-tracking.db` (docs: cursor-formats §1). A workspace's storage id is a
hash that cannot be turned back into a folder: its `workspace.json` names the folder (`folder`, a
percent-encoded URI) or a multi-root `.code-workspace` file (`workspace`), whose `folders[].path` are the
roots, relative to that file. A folder that no longer exists keeps its recorded path. `state.vscdb.backup`
files are stale copies VS Code makes on close and are never read.

Nothing here opens a database; this module only finds files and reads small JSON files.
"""

import json
import logging
import os
import posixpath
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

GLOBAL_DB = ("globalStorage", "state.vscdb")
TRACKING_DB = (".cursor", "ai-tracking", "ai-code-tracking.db")
_WINDOWS_DRIVE = re.compile(r"^/?[A-Za-z]:[/\\]")


@dataclass(frozen=True)
class Workspace:
    """One `workspaceStorage/<id>` folder: its database and the roots its `workspace.json` names."""

    id: str
    db: str
    roots: tuple[str, ...] = ()  # as recorded (absolute, decoded); first is the project's root
    location: str = ""  # the folder or `.code-workspace` file workspace.json points at


@dataclass(frozen=True)
class CursorPaths:
    user_dir: str
    global_db: str
    tracking_db: str
    workspaces: tuple[Workspace, ...] = field(default_factory=tuple)


def user_dir_default(home: str, *, platform: str = sys.platform, environ: dict | None = None) -> str:
    """Cursor's User folder for this OS layout under `home`."""
    if platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "Cursor", "User")
    if platform.startswith("win"):
        appdata = (environ or os.environ).get("APPDATA") or os.path.join(home, "AppData", "Roaming")
        return os.path.join(appdata, "Cursor", "User")
    return os.path.join(home, ".config", "Cursor", "User")


def cursor_paths(
    *, home: str, user_dir: str | None = None, locate: Callable[[str], str] | None = None
) -> CursorPaths:
    """Cursor's files under `home` (HOME, or the fake home of a test); `user_dir` overrides the User
    folder (BLUEPLANE_CURSOR_USER_DIR). `locate` maps a path recorded in Cursor's data to where it is on
    this machine (identity unless Cursor's data was copied from elsewhere, as the test fixture is)."""
    user = user_dir or user_dir_default(home)
    return CursorPaths(
        user_dir=user,
        global_db=os.path.join(user, *GLOBAL_DB),
        tracking_db=os.path.join(home, *TRACKING_DB),
        workspaces=tuple(workspaces_find(user, locate=locate)),
    )


def workspaces_find(user_dir: str, *, locate: Callable[[str], str] | None = None) -> list[Workspace]:
    """Every `workspaceStorage/<id>` with a `state.vscdb`, sorted by id. A workspace whose
    workspace.json is missing or unreadable is kept without roots (its conversations still count)."""
    root = os.path.join(user_dir, "workspaceStorage")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    found = []
    for name in names:
        db = os.path.join(root, name, "state.vscdb")
        if not os.path.isfile(db):
            continue
        location, roots = workspace_roots(os.path.join(root, name, "workspace.json"), locate=locate)
        found.append(Workspace(id=name, db=db, roots=tuple(roots), location=location))
    return found


def workspace_roots(path: str, *, locate: Callable[[str], str] | None = None) -> tuple[str, list[str]]:
    """(what workspace.json points at, the workspace's roots) from one workspace.json."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        logger.info("cursor: cannot read %s (%s): its workspace has no known folder", path, exc)
        return "", []
    if not isinstance(data, dict):
        return "", []
    # A multi-root workspace names its .code-workspace file; `workspace` wins when both are present.
    if isinstance(data.get("workspace"), str):
        file = uri_path(data["workspace"])
        return file, code_workspace_roots(file, locate=locate)
    if isinstance(data.get("folder"), str):
        folder = uri_path(data["folder"])
        return folder, [folder]
    return "", []


def uri_path(uri: str) -> str:
    """The path of a `file://` (or remote) URI, percent-decoded; `file:///c%3A/x` gives `c:/x`."""
    parts = urlsplit(uri)
    path = unquote(parts.path) if parts.scheme else unquote(uri)
    if _WINDOWS_DRIVE.match(path) and path.startswith("/"):
        path = path[1:]
    return path


def code_workspace_roots(file: str, *, locate: Callable[[str], str] | None = None) -> list[str]:
    """The roots a `.code-workspace` file lists (relative ones against its folder). When the file is
    gone or unreadable, its folder stands for the workspace, as the path Cursor recorded."""
    base = _dirname(file)
    try:
        with open(locate(file) if locate else file, encoding="utf-8") as f:
            data = jsonc_loads(f.read())
    except (OSError, ValueError):
        return [base] if base else []
    roots = []
    for folder in data.get("folders", []) if isinstance(data, dict) else []:
        if not isinstance(folder, dict):
            continue
        if isinstance(folder.get("path"), str):
            roots.append(path_join(base, folder["path"]))
        elif isinstance(folder.get("uri"), str):
            roots.append(uri_path(folder["uri"]))
    return roots or ([base] if base else [])


def path_join(root: str, path: str) -> str:
    """`path` made absolute against `root` (kept as it is when already absolute), in root's style."""
    if not root or path_absolute(path):
        return path
    if "\\" in root and "/" not in root:
        return root.rstrip("\\") + "\\" + path.replace("/", "\\")
    return posixpath.normpath(posixpath.join(root, path))


def path_absolute(path: str) -> bool:
    return path.startswith(("/", "\\", "~")) or bool(_WINDOWS_DRIVE.match(path))


def _dirname(path: str) -> str:
    if "\\" in path and "/" not in path:
        return path.rsplit("\\", 1)[0]
    return posixpath.dirname(path)


def jsonc_loads(text: str) -> object:
    """JSON with comments and trailing commas, as VS Code writes `.code-workspace` files."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':  # copy a string whole, escapes included
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", "".join(out)))


def locate_under(recorded_home: str, home: str) -> Callable[[str], str]:
    """A `locate` for data copied from another home: paths under recorded_home are read under home."""
    prefix = recorded_home.rstrip("/") + "/"

    def locate(path: str) -> str:
        return os.path.join(home, path[len(prefix) :]) if path.startswith(prefix) else path

    return locate


def home_default() -> str:
    return str(Path.home())
