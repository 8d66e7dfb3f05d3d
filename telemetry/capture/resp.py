"""A minimal Redis client for the hook: XADD over a unix socket or TCP in a few lines of RESP.

redis-py costs 100-200 ms to import; this costs nothing beyond `_socket`. Supports `unix:///path`,
`unix:///path?db=N`, `redis://[:password@]host[:port][/db]` and `redis://user:password@...`. No TLS:
a `rediss://` URL raises RespError, and the hook spools instead.

One deadline covers the whole call (connect, send, every reply), so a Redis that accepts connections
and never answers costs the assistant at most `DEFAULT_TIMEOUT_S` before the hook spools. A Redis that
answers after the deadline may have stored the entry all the same: the spooled copy is then a second
delivery of the same event id, which the store ignores.
"""

import _socket
import time

# A healthy local Redis answers an XADD in well under a millisecond; this is what a frozen one costs.
DEFAULT_TIMEOUT_S = 0.05


class RespError(Exception):
    """The server could not be reached or answered with an error."""


def _command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def _address(url: str) -> tuple[int, object, list[bytes]]:
    """(socket family, address, setup commands) for a Redis URL."""
    setup: list[bytes] = []
    db = ""
    if url.startswith("unix://"):
        path, _, query = url[len("unix://") :].partition("?")
        for part in query.split("&"):
            if part.startswith("db="):
                db = part[3:]
        address: object = path
        family = _socket.AF_UNIX
    elif url.startswith("redis://"):
        rest = url[len("redis://") :]
        netloc, _, path = rest.partition("/")
        credentials, _, hostport = netloc.rpartition("@")
        if credentials:
            user, _, password = credentials.partition(":")
            auth = [user.encode(), password.encode()] if user else [password.encode()]
            setup.append(_command(b"AUTH", *auth))
        host, _, port = hostport.partition(":")
        if host.startswith("["):
            host, _, port = hostport[1:].partition("]:")
            host = host.rstrip("]")
        address = (host or "localhost", int(port or 6379))
        family = _socket.AF_INET6 if ":" in address[0] else _socket.AF_INET
        db = path.partition("?")[0]
    else:
        raise RespError(f"unsupported Redis URL scheme: {url.partition(':')[0]}")
    if db and db != "0":
        setup.append(_command(b"SELECT", db.encode()))
    return family, address, setup


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RespError("timed out")
    return left


def _reply(buf: bytearray, sock: object, deadline: float) -> bytes:
    """Read one simple/bulk/error/integer reply from the socket, consuming it from buf."""
    while True:
        end = buf.find(b"\r\n")
        if end >= 0:
            kind, head = buf[:1], bytes(buf[1:end])
            if kind in (b"+", b":"):
                del buf[: end + 2]
                return head
            if kind == b"-":
                raise RespError(head.decode("utf-8", "replace"))
            if kind == b"$":
                size = int(head)
                if size < 0:
                    del buf[: end + 2]
                    return b""
                if len(buf) >= end + 2 + size + 2:
                    value = bytes(buf[end + 2 : end + 2 + size])
                    del buf[: end + 2 + size + 2]
                    return value
            else:
                raise RespError(f"unexpected reply {bytes(buf[:32])!r}")
        # Per read, the time left: a server that trickles bytes must not reset the clock.
        sock.settimeout(_time_left(deadline))
        chunk = sock.recv(65536)
        if not chunk:
            raise RespError("connection closed")
        buf += chunk


def xadd(url: str, stream: str, fields: dict[str, bytes], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bytes:
    """XADD one entry; returns the entry id. Raises RespError or OSError (a timeout included) when it
    cannot within `timeout_s` in all."""
    deadline = time.monotonic() + timeout_s
    family, address, setup = _address(url)
    args = [b"XADD", stream.encode(), b"*"]
    for name, value in fields.items():
        args += [name.encode(), value]
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        sock.connect(address)
        # sendall's timeout bounds the whole send (Python 3.5+), not each chunk.
        sock.settimeout(_time_left(deadline))
        sock.sendall(b"".join([*setup, _command(*args)]))
        buf = bytearray()
        for _ in setup:
            _reply(buf, sock, deadline)
        return _reply(buf, sock, deadline)
    finally:
        sock.close()
