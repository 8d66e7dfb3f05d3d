"""Hook speed, measured the way Claude Code runs it: `sh -c` on the installer's exact command line,
one hook payload on stdin, wall time per call.

    .venv/bin/python bench/hook.py [--calls N]

Runs every call three times over: against a real (embedded) Redis, with Redis unreachable (the
spool path), and against a frozen Redis (a socket that accepts connections and never answers: the
hook's 50 ms deadline, then the spool). Prints figures; the last line is one JSON object. Targets:
P95 <= 20 ms per call; frozen, at most ~50 ms more than that.
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
from telemetry.capture.installer import hook_command  # noqa: E402

HOOKS = ROOT / "tests" / "fixtures" / "claude-real" / "hooks.jsonl"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(command: str, payloads: list[bytes], calls: int) -> list[float]:
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        subprocess.run(
            ["sh", "-c", command], input=payloads[i % len(payloads)], capture_output=True, check=True
        )
        times.append((time.perf_counter() - t0) * 1000)
    return times


def summary(times: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    payloads = [json.dumps(json.loads(line)["payload"]).encode() for line in HOOKS.read_text().splitlines()]

    with tempfile.TemporaryDirectory(prefix="bp-bench-") as tmp:
        home = Path(tmp)
        server = EmbeddedRedis(home)
        server.start()
        try:
            (home / "capture.json").write_text(json.dumps({"redis": server.url, "store_content": False}))
            command = hook_command(home=str(home))
            print(f"command: {command}")
            measure(command, payloads, 10)  # warm the page cache and __pycache__
            client = redis.Redis(unix_socket_path=str(server.socket_path))
            client.delete("telemetry:events")
            up = measure(command, payloads, args.calls)
            stored = client.xlen("telemetry:events")
            client.close()
        finally:
            server.stop()
        (home / "capture.json").write_text(
            json.dumps({"redis": f"unix://{home}/redis/gone.sock", "store_content": False})
        )
        down = measure(command, payloads, args.calls)
        spooled = len((home / "spool" / "claude_code.jsonl").read_bytes().splitlines())

        frozen_path = home / "frozen.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as frozen_server:
            frozen_server.bind(str(frozen_path))
            frozen_server.listen(4096)  # connections queue here, never accepted, never answered
            (home / "capture.json").write_text(
                json.dumps({"redis": f"unix://{frozen_path}", "store_content": False})
            )
            frozen_calls = min(args.calls, 100)
            frozen = measure(command, payloads, frozen_calls)
        frozen_spooled = len((home / "spool" / "claude_code.jsonl").read_bytes().splitlines()) - spooled

    baseline = measure(f"{sys.executable} -I -S -c pass", [b""], 50)
    result = {
        "calls": args.calls,
        "redis_up": {**summary(up), "events_in_stream": stored},
        "redis_down": {**summary(down), "events_spooled": spooled},
        "redis_frozen": {**summary(frozen), "calls": frozen_calls, "events_spooled": frozen_spooled},
        "bare_interpreter": summary(baseline),
        "target_p95_ms": 20,
    }
    print(
        f"redis up:   p50 {result['redis_up']['p50_ms']} ms, p95 {result['redis_up']['p95_ms']} ms, "
        f"{stored}/{args.calls} events in the stream"
    )
    print(
        f"redis down: p50 {result['redis_down']['p50_ms']} ms, p95 {result['redis_down']['p95_ms']} ms, "
        f"{spooled} events spooled"
    )
    print(
        f"redis frozen: p50 {result['redis_frozen']['p50_ms']} ms, p95 {result['redis_frozen']['p95_ms']} ms, "
        f"{frozen_spooled}/{frozen_calls} events spooled"
    )
    print(f"bare `python -I -S -c pass`: p50 {result['bare_interpreter']['p50_ms']} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
