"""Privacy filtering at capture: what leaves this module is what may reach Redis, the spool and the store.

Values are kept by position, never by key name alone. Each format defines a few levels (a hook
payload's top level; a transcript record's envelope, its `message`, the message's content blocks),
and at those levels only the fields named below are kept verbatim: identifiers and enum-like values
(length-capped, without spaces), paths (as salted hashes keeping the extension), and numbers,
booleans and null under any key. Every other string, object or list is content: a string becomes
{chars, lines, hash}, an object or a list one summary of the whole value {bytes, items, hash}, its
keys included. Tool inputs, tool results and MCP payloads are therefore content at every depth,
whatever their keys are called. docs/privacy.md lists exactly what is kept. With `store_content`
(opt-in) records are kept whole.

Hashes are keyed with the per-install salt; without a readable salt there are no hashes at all
(`salt_load` raises, `Privacy` refuses an empty key), never unsalted ones.

Stdlib only and cheap to import (no `re`, `json` or `hashlib`): the hook imports this on every call.
"""

import os

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter without the builtin module
    from hashlib import blake2b

try:
    import _json

    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
    _canonical = _json.make_encoder(
        None, str, _json.encode_basestring_ascii, None, ":", ",", True, False, True
    )

    def _canonical_json(value: object) -> str:
        return "".join(_canonical(value, 0))

except ImportError:  # an interpreter built without the accelerator
    import json

    def _canonical_json(value: object) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


SALT_BYTES = 32
# Longer strings at an identifier position are summarised like text: a field reused for free text must
# not leak it. Spaces, line breaks and other unprintable characters are never part of an identifier.
ID_MAX_CHARS = 200
FIELD_MAX_CHARS = 64

# The hook payload's top level (Claude Code's hook input). Nested objects and lists (tool_input,
# tool_response, tool_calls, permission_suggestions, effort ...) are content, whole.
HOOK_IDS = frozenset(
    {
        "hook_event_name", "session_id", "prompt_id", "tool_use_id", "tool_name", "agent_id", "agent_type",
        "permission_mode", "source", "reason", "trigger", "notification_type", "memory_type",
        "load_reason", "expansion_type", "command_source", "command_name", "message_id", "turn_id",
        "model", "from_model", "to_model", "requested_model", "cache_ttl", "pricing", "event", "task_id",
    }
)  # fmt: skip
HOOK_PATHS = frozenset({"cwd", "transcript_path", "agent_transcript_path", "file_path", "old_cwd", "new_cwd"})

# Cursor's hook payload top level (docs/wire-format.md, "Cursor events"). `prompt`, `text`, `output`,
# `content`, `edits`, `tool_input`, `tool_output`, `result_json`, `command`, `url`, `attachments`,
# `user_email`, `error_message` ... are content; `workspace_roots` is a list of paths.
CURSOR_HOOK_IDS = frozenset(
    {
        "hook_event_name", "hookEventName", "conversation_id", "generation_id", "session_id", "model",
        "cursor_version", "tool_name", "toolName", "tool_use_id", "status", "reason", "final_status",
        "composer_mode", "failure_type", "subagent_type", "trigger",
    }
)  # fmt: skip
CURSOR_HOOK_PATHS = frozenset({"cwd", "file_path", "transcript_path", "agent_transcript_path"})
CURSOR_HOOK_PATH_LISTS = frozenset({"workspace_roots"})

# A transcript record's envelope (every record type shares one level).
RECORD_IDS = frozenset(
    {
        # identifiers that link records to each other
        "uuid", "parentUuid", "logicalParentUuid", "leafUuid", "sessionId", "session_id",
        "requestSessionId", "agentId", "requestId", "promptId", "messageId", "snapshotMessageId",
        "sourceToolAssistantUUID", "sourceToolUseID", "toolUseID", "id",
        # what the record is, when and where it was written
        "type", "subtype", "timestamp", "version", "gitBranch", "userType", "entrypoint", "slug", "level",
        "operation", "mode", "permissionMode", "promptSource", "turnOrigin", "querySource", "renderedRole",
        "rowSource", "madeBy", "effort", "promptCacheRequested", "requestedModel", "originalModel",
        "fallbackModel", "apiErrorType", "stopReason", "toolDenialKind", "thinkingDisplay", "trigger",
        "attributionAgent", "attributionSkill",
    }
)  # fmt: skip
RECORD_PATHS = frozenset({"cwd", "trackingPath"})
RECORD_WHOLE = frozenset({"modelUsage"})  # per-model token counts and cost, keyed by model name
# `message` of a transcript record (the Messages API message).
MESSAGE_IDS = frozenset({"id", "model", "role", "type", "stop_reason", "stop_sequence"})
MESSAGE_WHOLE = frozenset({"usage"})  # token counts, service tier, speed
# Each block of `message.content`: `text`, `thinking`, `signature`, `input`, `content`, `source` ... are
# content.
BLOCK_IDS = frozenset({"type", "id", "name", "tool_use_id", "is_error"})

_NO_NAMES: frozenset = frozenset()


class SaltError(Exception):
    """The per-install salt cannot be read or made: nothing may be hashed, so nothing is captured."""


class Privacy:
    """The filter one install applies: its salt, and whether the user opted in to keep content."""

    __slots__ = ("_key", "store_content", "team")

    def __init__(self, salt: bytes, *, store_content: bool = False, team: bool = False) -> None:
        if not salt:
            raise SaltError("an empty salt would make unsalted hashes")
        self._key = salt[:64]  # BLAKE2b keys are at most 64 bytes
        self.store_content = store_content
        # Connected to a team server (docs/team.md): a project is its repository's origin, so that
        # every clone of it, on any machine, is one project.
        self.team = team

    def digest(self, data: str | bytes) -> str:
        """Salted 64-bit hash (16 hex): equal inputs compare equal within one install, nothing more."""
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        return blake2b(data, key=self._key, digest_size=8).hexdigest()

    def path(self, value: str) -> str:
        """A path as `path:<hash><.ext>`; the extension (up to 10 alphanumerics) is kept."""
        base = value.rstrip("/\\").rsplit("/", 1)[-1]
        dot = base.rfind(".")
        ext = base[dot:] if dot > 0 and len(base) - dot <= 11 and base[dot + 1 :].isalnum() else ""
        return f"path:{self.digest(value)}{ext}"

    def text(self, value: str) -> dict:
        """What is kept of a piece of text: its size in characters, its line count and a salted hash."""
        lines = value.count("\n") + (1 if value and not value.endswith("\n") else 0)
        return {"chars": len(value), "lines": lines, "hash": self.digest(value)}

    def value(self, value: dict | list) -> dict:
        """What is kept of an object or a list: the size of its canonical JSON (keys sorted, no spaces),
        its number of items (keys of an object) and a salted hash of that JSON. Keys are not kept."""
        try:
            body = _canonical_json(value).encode("utf-8", "surrogatepass")
        except RecursionError:  # nested deeper than the encoder goes (orjson reads 1024 levels)
            return {"bytes": None, "items": len(value), "hash": None}
        return {"bytes": len(body), "items": len(value), "hash": self.digest(body)}

    def content(self, value: object) -> object:
        """Content at any position: null stays null (nothing was said), anything else is summarised."""
        if value is None:
            return None
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict | list):
            return self.value(value)
        return self.value([value])  # a bare number or flag where content was expected

    def project(self, cwd: str | None) -> dict | None:
        """The project of a working directory: its git root's salted hash and folder name.

        The root is the nearest ancestor holding `.git`; a directory that no longer exists (an old
        transcript) or is in no repository stands for itself. In team mode a repository with an
        `origin` remote is identified by its normalised URL instead (origin_url), named by its last
        part: the same repository cloned at two paths or on two machines is one project.
        """
        if not cwd or not isinstance(cwd, str):
            return None
        found = _git_root(cwd)
        root = found or cwd.rstrip("/") or "/"
        if self.team and found:
            origin = git_origin(found)
            if origin:
                return {"hash": self.digest("origin:" + origin), "name": origin.rsplit("/", 1)[-1] or origin}
        return {"hash": self.digest(root), "name": os.path.basename(root) or root}

    def hook_filter(self, payload: dict) -> dict:
        """A hook payload (a JSON object) as it may be stored."""
        if self.store_content:
            return payload
        return self._level(payload, HOOK_IDS, HOOK_PATHS)

    def cursor_hook_filter(self, payload: dict) -> dict:
        """A Cursor hook payload (a JSON object) as it may be stored."""
        if self.store_content:
            return payload
        out = self._level(payload, CURSOR_HOOK_IDS, CURSOR_HOOK_PATHS)
        for key in CURSOR_HOOK_PATH_LISTS & payload.keys():
            value = payload[key]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                out[key] = [self.path(v) for v in value]
        return out

    def record_filter(self, record: dict) -> dict:
        """A transcript record (a JSON object) as it may be stored."""
        if self.store_content:
            return record
        return self._level(record, RECORD_IDS, RECORD_PATHS, RECORD_WHOLE, ("message", self._message))

    def _message(self, message: object) -> object:
        if not isinstance(message, dict):
            return self.content(message)
        return self._level(message, MESSAGE_IDS, _NO_NAMES, MESSAGE_WHOLE, ("content", self._blocks))

    def _blocks(self, content: object) -> object:
        if not isinstance(content, list):
            return self.content(content)
        return [
            self._level(b, BLOCK_IDS, _NO_NAMES) if isinstance(b, dict) else self.content(b) for b in content
        ]

    def _level(
        self,
        obj: dict,
        ids: frozenset,
        paths: frozenset,
        whole: frozenset = _NO_NAMES,
        nested: tuple = (None, None),
    ) -> dict:
        """One positional level: numbers, booleans and null under any key; identifiers at `ids`; paths at
        `paths`; counts at `whole`; the next level down at `nested` (key, filter); the rest is content."""
        nested_key, nested_filter = nested
        out = {}
        for key, value in obj.items():
            name = key if _field_name(key) else "field:" + self.digest(key)
            if value is None or isinstance(value, bool | int | float):
                out[name] = value
            elif key == nested_key:
                out[name] = nested_filter(value)
            elif isinstance(value, str) and key in ids:
                out[name] = self._ident(value)
            elif isinstance(value, str) and key in paths:
                out[name] = self.path(value)
            elif key in whole:
                out[name] = self._whole(value)
            else:
                out[name] = self.content(value)
        return out

    def _ident(self, value: str) -> str | dict:
        if not identifier(value):
            return self.text(value)
        return self.path(value) if _looks_like_path(value) else value

    def _whole(self, value: object) -> object:
        """Counts, model names and enums, kept with their keys; a string that is no identifier is not."""
        if isinstance(value, dict):
            return {
                k if _field_name(k) or _model_name(k) else "field:" + self.digest(k): self._whole(v)
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self._whole(v) for v in value]
        if isinstance(value, str):
            return self._ident(value)
        return value


def identifier(value: object) -> bool:
    """Whether a value may be kept verbatim at an identifier position: a string of at most ID_MAX_CHARS
    printable characters without spaces (ids, enums, model names, timestamps, branch names)."""
    return isinstance(value, str) and len(value) <= ID_MAX_CHARS and value.isprintable() and " " not in value


def _field_name(key: str) -> bool:
    """A key that reads as a field name of the format (not a path, a sentence or someone's data)."""
    return len(key) <= FIELD_MAX_CHARS and key.isascii() and key.replace("-", "_").isidentifier()


def _model_name(key: str) -> bool:
    """A model name used as a key (`modelUsage`): `claude-opus-4-5-20251101`, `<synthetic>`."""
    return (
        len(key) <= FIELD_MAX_CHARS
        and key.isascii()
        and key.strip("<>")
        .replace("-", "_")
        .replace(".", "_")
        .replace("@", "_")
        .replace(":", "_")
        .isidentifier()
    )


def _looks_like_path(value: str) -> bool:
    return value.startswith(("/", "~", "\\")) or value[1:3] == ":\\"


def _git_root(cwd: str) -> str | None:
    path = cwd.rstrip("/") or "/"
    for _ in range(64):
        if os.path.exists(path + "/.git"):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent
    return None


def git_origin(root: str) -> str | None:
    """The normalised `origin` URL of the repository at root (origin_url), read from its config: in
    `.git/config`, or, where `.git` is a file (a worktree, a submodule), in the directory it points to
    (a worktree's config is its main repository's: `commondir`). None without one or on any error."""
    dot_git = root.rstrip("/") + "/.git"
    try:
        if os.path.isdir(dot_git):
            git_dir = dot_git
        else:
            with open(dot_git, encoding="utf-8", errors="replace") as f:
                line = f.read(4096).strip()
            if not line.startswith("gitdir:"):
                return None
            git_dir = os.path.join(root, line[7:].strip())
            try:
                with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as f:
                    git_dir = os.path.join(git_dir, f.read(4096).strip())
            except OSError:
                pass  # a submodule: its config is in its own git dir
        with open(os.path.join(git_dir, "config"), encoding="utf-8", errors="replace") as f:
            config = f.read(1 << 20)
    except OSError:
        return None
    section = None
    for raw in config.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]").replace(" ", "").replace("\t", "").lower()
            continue
        if section == 'remote"origin"':
            key, eq, value = line.partition("=")
            if eq and key.strip().lower() == "url":
                return origin_url(value.strip().strip('"')) or None
    return None


def origin_url(url: str) -> str:
    """A remote URL without what differs between clones of one repository: the scheme, the user, a
    port of ssh, a trailing `.git` or `/`; `git@host:path` (scp-like) is `host/path`. The host is
    lower-cased. `https://github.com/a/b.git`, `git@github.com:a/b` -> `github.com/a/b`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        rest = url
        host, colon, path = rest.partition(":")
        if colon and "/" not in host:  # scp-like: [user@]host:path
            rest = host + "/" + path.lstrip("/")
    host, _slash, path = rest.partition("/")
    host = host.rpartition("@")[2].lower()
    if sep and scheme.lower() in ("ssh", "git+ssh"):
        host = host.partition(":")[0]
    path = path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host}/{path.rstrip('/')}" if path else host


def salt_load(path: str, *, create: bool = True) -> bytes:
    """The per-install salt, created (mode 0600) on first use.

    Raises SaltError when the file is empty, cannot be read, or is missing and cannot be made (or
    `create` is False): an empty salt would give unsalted hashes, and a new one would silently make
    every later hash unrelated to the stored ones.
    """
    try:
        return _salt_read(path)
    except FileNotFoundError:
        if not create:
            raise SaltError(f"the salt file {path} does not exist") from None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Write aside, then link into place: a reader never sees a half-written salt, and of two
        # processes racing to create it, the second one finds the first one's and uses that.
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(SALT_BYTES))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return _salt_read(path)
    except OSError as exc:
        raise SaltError(f"cannot create the salt file {path}: {exc.strerror or exc}") from None


def _salt_read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            salt = f.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SaltError(f"cannot read the salt file {path}: {exc.strerror or exc}") from None
    if not salt:
        raise SaltError(
            f"the salt file {path} is empty; remove it to start a new salt (hashes made before will not match)"
        )
    return salt
