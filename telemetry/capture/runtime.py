"""Capture settings for the Django-side processes (tailer, importer, installer), from blueplane.settings.

The hook cannot read Django settings (it runs `python -I -S` with only the standard library), so the
installer and `runcapture` write what it needs to $BLUEPLANE_HOME/capture.json.
"""

import os
from pathlib import Path

import orjson
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .privacy import Privacy, SaltError, salt_load

CONFIG_NAME = "capture.json"
SALT_NAME = "salt"
# Written by `blueplane connect` (telemetry/forward/team.py); while it exists this machine is in team
# mode (docs/team.md). hook.py restates the name.
TEAM_NAME = "team.json"


def home() -> Path:
    return Path(settings.BLUEPLANE_HOME)


def privacy_get() -> Privacy:
    """This install's privacy filter (creates the salt on first use).

    Raises ImproperlyConfigured, in one line, when the salt is empty or cannot be read or made."""
    try:
        salt = salt_load(str(home() / SALT_NAME))
    except SaltError as exc:
        raise ImproperlyConfigured(str(exc)) from None
    return Privacy(salt, store_content=settings.CAPTURE_STORE_CONTENT, team=(home() / TEAM_NAME).exists())


def otlp_endpoint() -> str:
    """Where Claude Code sends its OpenTelemetry export (OTEL_EXPORTER_OTLP_ENDPOINT): the receiver's
    address, loopback for a receiver listening on every interface."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(settings.OTLP_BIND, settings.OTLP_BIND)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.OTLP_PORT}"


def offsets_path() -> str:
    return str(home() / "capture" / "claude-offsets.json")


def cursor_state_path() -> str:
    return str(home() / "capture" / "cursor-state.sqlite3")


def capture_config() -> dict:
    return {"redis": settings.REDIS_URL, "store_content": bool(settings.CAPTURE_STORE_CONTENT)}


def capture_config_write() -> bool:
    """Write capture.json for the hook (mode 0600, atomic). Returns True if it changed."""
    path = home() / CONFIG_NAME
    body = orjson.dumps(capture_config(), option=orjson.OPT_INDENT_2) + b"\n"
    try:
        if path.read_bytes() == body:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(f"{CONFIG_NAME}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    os.replace(tmp, path)
    return True
