"""The hook entry point of Claude Code (`hook.py claude-code`) and Cursor (`hook.py cursor`): one hook
call in, one event out, within milliseconds.

Run by Claude Code exactly as the installer wrote it, e.g.
    trap '' TERM; BLUEPLANE_HOME=/home/me/.blueplane /usr/bin/python3.11 -I -S /.../telemetry/capture/hook.py \
        claude-code 2>/dev/null || cat >/dev/null; exit 0
with the hook payload on stdin (installer.hook_command says why the trap and the rest). It imports only the
standard library's cheapest modules (`-S` skips `site`; `json`, `socket` and `hashlib` are avoided
for their import cost), filters the payload for privacy, XADDs the envelope to Redis over a raw
socket, and when Redis cannot be reached appends it to the spool under $BLUEPLANE_HOME. For Claude
Code it never writes to stdout (Claude Code may read stdout as hook output). For Cursor it prints the
reply that lets the action proceed unchanged (cursor_events.hook_reply) as soon as stdin is read,
before any other work, so the reply is out even if that work is cut short; the installed command line
prints it instead when this script cannot run at all (cursor_installer.hook_command). It always exits
0, whatever happens.

$BLUEPLANE_HOME/capture.json (written by `blueplane install`) gives the Redis address and options:
    {"redis": "unix:///home/me/.blueplane/redis/redis.sock", "store_content": false}

Bounded work: Redis gets 50 ms in all (resp.py), and a payload of more than MAX_VALUES values (a
Grep or Glob result listing 100,000 files) is pruned breadth first before it is filtered, since
filtering costs ~10 us a value: a million would outlast Claude Code's hook timeout, and the envelope
would be too large to store anyway. What cannot run at all (interpreter or script gone) is the
installed command line's business: installer.hook_command.
"""

import os
import sys
import time

# The stream of telemetry.wire, restated: the hook may import only the standard library.
EVENTS_STREAM = "telemetry:events"
# The recorded calls hold at most ~60 values; filtering 10,000 takes ~0.1 s.
MAX_VALUES = 10_000
CURSOR = "cursor"  # the target argument naming Cursor; anything else is Claude Code (older installs)


def _config(home: str) -> dict:
    try:
        with open(os.path.join(home, "capture.json"), "rb") as f:
            config = loads(f.read())
        return config if isinstance(config, dict) else {}
    except (OSError, ValueError):
        return {}


def capture(raw: bytes, *, home: str, capture_ns: int, target: str = "claude-code") -> str:
    """Turn one hook payload of `target` (claude-code or cursor) into a stored or spooled event.
    Returns "redis" or "spool"."""
    cursor = target == CURSOR
    config = _config(home)
    try:
        privacy = Privacy(
            salt_load(os.path.join(home, "salt")),
            store_content=config.get("store_content") is True,
            # Connected to a team server (runtime.TEAM_NAME, restated): projects are origin URLs.
            team=os.path.exists(os.path.join(home, "team.json")),
        )
        kept, omitted = _pruned_raw(raw)
        envelope = (cursor_hook_envelope if cursor else hook_envelope)(
            kept, capture_ns=capture_ns, privacy=privacy
        )
        if omitted:
            envelope["metadata"].update(payload_bytes=len(raw), containers_omitted=omitted)
        line = dumps(envelope).encode()
    except Exception as exc:
        # A salt that cannot be read (SaltError) or a bug in filtering must not lose the call, nor let
        # unfiltered content or unsalted hashes through: the envelope sent then holds sizes only.
        line = dumps(_error_envelope(raw, capture_ns, exc, cursor=cursor)).encode()
    url = config.get("redis") or "unix://" + os.path.join(home, "redis", "redis.sock")
    try:
        xadd(url, EVENTS_STREAM, {"event": line})
        return "redis"
    except Exception:
        spool_append(home, line, name=CURSOR_PLATFORM if cursor else PLATFORM)
        return "spool"


def payload_pruned(value: object, *, max_values: int) -> tuple[object, int]:
    """A copy of a parsed payload with at most `max_values` values, kept breadth first so the
    top-level fields and the shallow structure survive; a container whose items no longer fit is
    replaced by `{"omitted_items": <its length>}`. Returns (the copy, how many were replaced)."""
    if not isinstance(value, dict | list):
        return value, 0
    if len(value) > max_values:
        return {"omitted_items": len(value)}, 1
    budget = max_values - len(value)
    omitted = 0
    root: dict | list = {} if isinstance(value, dict) else []
    queue = [(value, root)]
    for source, target in queue:  # grows while it is walked: breadth first
        for key, item in source.items() if isinstance(source, dict) else enumerate(source):
            if isinstance(item, dict | list):
                if len(item) <= budget:
                    budget -= len(item)
                    copy: dict | list = {} if isinstance(item, dict) else []
                    queue.append((item, copy))
                    item = copy
                else:
                    item = {"omitted_items": len(item)}
                    omitted += 1
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root, omitted


def _pruned_raw(raw: bytes) -> tuple[bytes, int]:
    """(the payload to envelope, how many containers were pruned from it); `raw` itself if none."""
    # Counting commas is C-fast and bounds the value count (give or take one per container), so
    # ordinary payloads are not parsed twice.
    if raw.count(b",") < MAX_VALUES // 2:
        return raw, 0
    try:
        pruned, omitted = payload_pruned(loads(raw), max_values=MAX_VALUES)
    except Exception:  # not JSON, or nested too deep: hook_envelope stores it as unparsed
        return raw, 0
    return (dumps(pruned).encode(), omitted) if omitted else (raw, 0)


def _error_envelope(raw: bytes, capture_ns: int, exc: Exception, *, cursor: bool = False) -> dict:
    stamp = iso_from_ns(capture_ns)
    return {
        "event_id": f"{'cu' if cursor else 'cc'}:h:error:{capture_ns}:{os.getpid()}",
        "platform": CURSOR_PLATFORM if cursor else PLATFORM,
        "source": "hook",
        "event_type": "unknown",
        "session_id": "unknown",
        "timestamp": stamp,
        "payload": {"capture_error": type(exc).__name__, "payload_bytes": len(raw)},
        "metadata": {"capture_ts": stamp, "capture": "hook"},
    }


def main() -> None:
    capture_ns = time.time_ns()
    target = sys.argv[1] if len(sys.argv) > 1 else "claude-code"
    event = sys.argv[2] if len(sys.argv) > 2 else ""  # Cursor's line names its event (older ones do not)
    try:
        raw = sys.stdin.buffer.read()
        if target == CURSOR:
            # First: Cursor reads stdout once we exit, and whatever happens below must not cost the
            # user the reply. One write() of a few bytes to a pipe is atomic.
            try:  # noqa: SIM105 - contextlib costs an import
                os.write(1, cursor_hook_reply(raw, event=event))
            except BaseException:
                pass
        home = os.environ.get("BLUEPLANE_HOME") or os.path.expanduser("~/.blueplane")
        capture(raw, home=home, capture_ns=capture_ns, target=target)
    except BaseException:  # a telemetry hook must never fail the assistant
        pass
    # Skip interpreter teardown: nothing is buffered, and the assistant may be waiting on us.
    os._exit(0)


if __name__ == "__main__":
    # First, before any import: Claude Code 2.1.331 sends SIGTERM to a StopFailure hook's process
    # group a few ms after spawning it. The installed command already ignores it (`trap '' TERM`,
    # inherited across exec, see installer.hook_command); this covers commands written by an
    # older install, from here on. Redis is bounded by a 50 ms timeout; SIGKILL still ends us.
    # `_signal` is builtin: `signal` would import enum.
    import _signal

    _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
    # Sibling modules are imported as top-level ones: `-I` keeps the script's folder off sys.path.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from claude_events import PLATFORM, hook_envelope, iso_from_ns
        from cursor_events import PLATFORM as CURSOR_PLATFORM
        from cursor_events import hook_envelope as cursor_hook_envelope
        from cursor_events import hook_reply as cursor_hook_reply
        from jsonlite import dumps, loads
        from privacy import Privacy, salt_load
        from resp import xadd
        from spool import spool_append
    except BaseException:
        # Half a checkout (a sibling module gone): still read the payload, or the assistant, which
        # may be writing it yet, would meet a pipe without a reader. Nothing is printed: Cursor's
        # installed command line prints its reply when we print none.
        try:  # noqa: SIM105 - contextlib costs an import
            sys.stdin.buffer.read()
        except BaseException:
            pass
        os._exit(0)
    main()
else:
    from .claude_events import PLATFORM, hook_envelope, iso_from_ns
    from .cursor_events import PLATFORM as CURSOR_PLATFORM
    from .cursor_events import hook_envelope as cursor_hook_envelope
    from .cursor_events import hook_reply as cursor_hook_reply
    from .jsonlite import dumps, loads
    from .privacy import Privacy, salt_load
    from .resp import xadd
    from .spool import spool_append
