"""HTTP to the team server: the connect handshake and batch posts (urllib; TLS with an optional CA file).

Errors are one line and never hold the token: it goes only into the Authorization header, which no
message here repeats.
"""

import contextlib
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

CONNECT_PATH = "/api/v1/team/connect"
EVENTS_PATH = "/api/v1/events"
TIMEOUT_S = 30.0


class ForwardError(Exception):
    """One line for the person: a bad URL, a server that does not answer, a refused token."""


class Unreachable(ForwardError):
    """No HTTP answer at all (DNS, refused connection, TLS, timeout): worth trying again later."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict | list | None  # the JSON answer, None when it was not JSON
    retry_after_s: float | None = None


def url_checked(url: str) -> str:
    """A server's base URL, without a trailing slash. Raises ForwardError for anything else."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForwardError(f"{url[:200]!r} is not a server URL; give one like https://blueplane.example.com")
    if parts.query or parts.fragment:
        raise ForwardError(f"{url[:200]!r}: a server URL has no query or fragment")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ForwardError(
            f"cannot use the CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}"
        ) from None


def request(
    url: str, path: str, *, token: str, body: bytes | None = None, ca_file: str | None = None
) -> Answer:
    """POST url+path with the token. Returns any HTTP answer; raises Unreachable without one."""
    req = urllib.request.Request(
        url + path,
        data=body if body is not None else b"",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    context = _context(ca_file) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S, context=context) as answer:
            status, raw, headers = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, headers = error.code, error.headers
        try:
            raw = error.read()
        except OSError:
            raw = b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise Unreachable(f"cannot reach {url}: {str(reason)[:200]}") from None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    retry = None
    with contextlib.suppress(ValueError):
        retry = float(headers.get("Retry-After")) if headers and headers.get("Retry-After") else None
    return Answer(status, parsed, retry)


def message_of(answer: Answer) -> str:
    body = answer.body
    text = body.get("message") if isinstance(body, dict) else None
    return f"HTTP {answer.status}" + (f": {str(text)[:300]}" if text else "")
