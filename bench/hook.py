"""Hook speed, measured the way the assistants run it: `sh -c` on the installer's exact command line,
one hook payload on stdin, wall time per call. Claude Code's hook and Cursor's side by side.

    .venv/bin/python bench/hook.py [--calls N]

Runs every call three times over: against a real (embedded) Redis, with Redis unreachable (the
spool path), and against a frozen Redis (a socket that accepts connections and never answers: the
hook's 50 ms deadline, then the spool). Claude Code's calls cycle through its recorded payloads
(tests/fixtures/claude-real/hooks.jsonl) on its one installed line; Cursor's through the fixture's
(tests/fixtures/cursor/hooks.jsonl), each on the line installed for its event. The two alternate call
by call, so a busy machine slows both alike. Prints figures; the last line is one JSON object (Claude
Code's figures at its top level, as before, Cursor's under `cursor`). Targets: P95 <= 20 ms per
call; frozen, at most ~50 ms more than that; Cursor's P95 within a few ms of Claude Code's.
"""

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from blueplane.redis_server import EmbeddedRedis  # noqa: E402
from telemetry.capture import cursor_installer  # noqa: E402
from telemetry.capture.installer import hook_command  # noqa: E402

HOOKS = ROOT / "tests" / "fixtures" / "claude-real" / "hooks.jsonl"
CURSOR_HOOKS = ROOT / "tests" / "fixtures" / "cursor" / "hooks.jsonl"
PLATFORMS = ("claude_code", "cursor")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(calls: dict[str, list[tuple[str, bytes]]], count: int) -> dict[str, list[float]]:
    """Wall time in ms of `count` calls per platform, alternating between them; each platform cycles
    through its (command line, stdin) pairs."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(count):
        for name, pairs in calls.items():
            command, payload = pairs[i % len(pairs)]
            t0 = time.perf_counter()
            subprocess.run(["sh", "-c", command], input=payload, capture_output=True, check=True)
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
    }


def spooled(home: Path, name: str) -> int:
    path = home / "spool" / f"{name}.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def config_write(home: Path, url: str) -> None:
    (home / "capture.json").write_text(json.dumps({"redis": url, "store_content": False}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    claude_payloads = [
        json.dumps(json.loads(line)["payload"]).encode() for line in HOOKS.read_text().splitlines()
    ]
    cursor_calls = [json.loads(line) for line in CURSOR_HOOKS.read_text().splitlines() if line]

    with tempfile.TemporaryDirectory(prefix="bp-bench-") as tmp:
        home = Path(tmp)
        command = hook_command(home=str(home))
        calls = {
            "claude_code": [(command, payload) for payload in claude_payloads],
            "cursor": [
                (
                    cursor_installer.hook_command(event=call["hook_event_name"], home=str(home)),
                    json.dumps(call["stdin"]).encode(),
                )
                for call in cursor_calls
            ],
        }
        print(f"command: {command}")
        print(f"cursor command (stop): {cursor_installer.hook_command(event='stop', home=str(home))}")
        server = EmbeddedRedis(home)
        server.start()
        try:
            config_write(home, server.url)
            measure(calls, 10)  # warm the page cache and __pycache__
            client = redis.Redis(unix_socket_path=str(server.socket_path))
            client.delete("telemetry:events")
            up = measure(calls, args.calls)
            stored = client.xlen("telemetry:events")
            client.close()
        finally:
            server.stop()
        config_write(home, f"unix://{home}/redis/gone.sock")
        down = measure(calls, args.calls)
        down_spooled = {name: spooled(home, name) for name in PLATFORMS}

        frozen_path = home / "frozen.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as frozen_server:
            frozen_server.bind(str(frozen_path))
            frozen_server.listen(4096)  # connections queue here, never accepted, never answered
            config_write(home, f"unix://{frozen_path}")
            frozen_calls = min(args.calls, 100)
            frozen = measure(calls, frozen_calls)
        frozen_spooled = {name: spooled(home, name) - down_spooled[name] for name in PLATFORMS}

    baseline = measure({"bare": [(f"{sys.executable} -I -S -c pass", b"")]}, 50)["bare"]
    figures = {
        name: {
            "redis_up": summary(up[name]),
            "redis_down": {**summary(down[name]), "events_spooled": down_spooled[name]},
            "redis_frozen": {
                **summary(frozen[name]),
                "calls": frozen_calls,
                "events_spooled": frozen_spooled[name],
            },
        }
        for name in PLATFORMS
    }
    claude, cursor = figures["claude_code"], figures["cursor"]
    result = {
        "calls": args.calls,
        **claude,
        "cursor": cursor,
        "events_in_stream": stored,  # both platforms' calls with Redis up
        "cursor_minus_claude_p95_ms": {
            case: round(cursor[case]["p95_ms"] - claude[case]["p95_ms"], 2) for case in claude
        },
        "bare_interpreter": summary(baseline),
        "target_p95_ms": 20,
    }
    print(f"{'':14} {'Claude Code p50 / p95':>24} {'Cursor p50 / p95':>22}")
    for case, label in (
        ("redis_up", "redis up"),
        ("redis_down", "redis down"),
        ("redis_frozen", "redis frozen"),
    ):
        print(
            f"{label:14} {claude[case]['p50_ms']:>12} / {claude[case]['p95_ms']:>6} ms"
            f" {cursor[case]['p50_ms']:>10} / {cursor[case]['p95_ms']:>6} ms"
        )
    print(
        f"{stored}/{2 * args.calls} events in the stream with Redis up; spooled with Redis down: "
        f"{down_spooled['claude_code']} + {down_spooled['cursor']}, frozen: "
        f"{frozen_spooled['claude_code']} + {frozen_spooled['cursor']} of {frozen_calls} each"
    )
    print(f"bare `python -I -S -c pass`: p50 {result['bare_interpreter']['p50_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
