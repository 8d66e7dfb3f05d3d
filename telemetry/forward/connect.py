"""`blueplane connect` and `disconnect`, as plain functions (the commands in blueplane/cli/team.py only
print what these return)."""

import os
from pathlib import Path

from .client import CONNECT_PATH, ForwardError, message_of, request, url_checked
from .team import LEVELS, Team, forward_dir, machine_id_kept, salt_adopt, team_path, team_read, team_write


def connect(home: Path, url: str, *, token: str, level: str = "metadata", ca_file: str | None = None) -> Team:
    """Ask the server who the token belongs to and for the team salt; adopt the salt; record the
    connection. Raises ForwardError (one line) for a bad URL or level, an unreachable server or a
    refused token; then nothing changed on this machine."""
    url = url_checked(url)
    if level not in LEVELS:
        raise ForwardError(f"unknown level {level!r}; expected one of {', '.join(LEVELS)}")
    token = token.strip()
    if not token or any(c.isspace() for c in token):
        raise ForwardError("the token is empty or has spaces; give the one `blueplane token create` printed")
    if ca_file:
        ca_file = os.path.abspath(ca_file)
        if not os.path.isfile(ca_file):
            raise ForwardError(f"no CA file at {ca_file}")
    answer = request(url, CONNECT_PATH, token=token, ca_file=ca_file)
    if answer.status in (401, 403):
        raise ForwardError(f"the server refused the token ({message_of(answer)})")
    if answer.status == 404:
        raise ForwardError(f"{url} has no Blueplane team server API (HTTP 404 for {CONNECT_PATH})")
    body = answer.body
    if answer.status != 200 or not isinstance(body, dict):
        raise ForwardError(f"{url} did not accept the connection: {message_of(answer)}")
    try:
        salt = bytes.fromhex(body["team_salt"])
        user = str(body.get("user") or "")
        server = str(body.get("server") or "")
    except (KeyError, TypeError, ValueError):
        raise ForwardError(f"{url} answered, but not as a Blueplane team server does") from None
    if not salt:
        raise ForwardError(f"{url} sent an empty team salt")
    try:
        machine_id = machine_id_kept(home)
    except OSError as exc:
        raise ForwardError(f"cannot write under {home}: {exc.strerror or exc}") from None
    team = Team(
        url=url, token=token, level=level, machine_id=machine_id, user=user, server=server, ca_file=ca_file
    )
    try:
        salt_adopt(home, salt)
        team_write(home, team)
    except OSError as exc:
        raise ForwardError(f"cannot write the connection under {home}: {exc.strerror or exc}") from None
    _state_clear(home)
    return team


def disconnect(home: Path) -> Team | None:
    """Stop forwarding: team.json goes (the forwarder idles once it sees that). The team salt stays
    this machine's salt, so hashes stay comparable with what it stored; its own is in salt.local.
    Returns the connection that was, or None."""
    team = team_read(home)
    path = team_path(home)
    if not path.exists():
        return None
    path.unlink()
    _state_clear(home)
    return team


def _state_clear(home: Path) -> None:
    (forward_dir(home) / "state.json").unlink(missing_ok=True)
