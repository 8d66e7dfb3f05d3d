"""Status line speed, measured the way Claude Code runs it: `sh -c` on the installer's exact command line
(`python -I -S blueplane/statusline.py`), the status JSON the real CLI sends on stdin, wall time per
run including the interpreter's start.

    .venv/bin/python bench/statusline.py [--runs N] [--home BLUEPLANE_HOME]

Without --home it builds a store through the real pipeline from the repository's Claude Code corpus
plus one session whose replies were minutes ago (so there is an active 5-hour block to compute, the
line's most expensive part). It times the line for that session, then the same with official rate
limits in the input (sent once, then recognised as a repeat). Prints figures; the last line is one JSON
object. Target: P95 <= 50 ms. bench/report.py calls statusline_p95() on its own big store.
"""

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telemetry.capture.installer import statusline_command  # noqa: E402

STATUS = ROOT / "tests" / "fixtures" / "claude-statusline"
CORPUS = ROOT / "tests" / "fixtures" / "claude-real" / "projects"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latest_session(home: Path) -> str | None:
    """The session seen last in the store, so the line has figures to find."""
    try:
        with sqlite3.connect(f"file:{home / 'telemetry.db'}?mode=ro", uri=True) as db:
            row = db.execute("SELECT session_id FROM sessions ORDER BY last_event_at DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def statusline_p95(
    home: Path, runs: int = 200, *, session_id: str | None = None, rate_limits: bool = False
) -> dict:
    """Run the installed status line `runs` times against the store at `home`; returns {"runs",
    "p50_ms", "p95_ms", "max_ms", "line"} (the line it printed last, to show it had figures)."""
    status = json.loads((STATUS / ("subscription.json" if rate_limits else "after-reply.json")).read_text())
    status["session_id"] = session_id or _latest_session(home) or status["session_id"]
    stdin = json.dumps(status).encode()
    command = statusline_command(home=str(home))
    times, out = [], b""
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(["sh", "-c", command], input=stdin, capture_output=True, check=True).stdout
        times.append((time.perf_counter() - t0) * 1000)
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "max_ms": round(max(times), 2),
        "line": out.decode().strip(),
    }


def _recent_session(projects: Path, now: datetime) -> str:
    """Add a session whose replies were 50, 30 and 10 minutes ago; returns its id."""
    session = str(uuid.uuid4())
    folder = projects / "-home-dev-bench-now"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{session}.jsonl").open("w") as f:
        for i, minutes in enumerate((50, 30, 10)):
            at = (now - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            record = {"type": "assistant", "timestamp": at, "sessionId": session, "version": "2.1.331",
                      "cwd": "/home/dev/bench/now", "uuid": str(uuid.uuid4()), "requestId": f"req_bench{i}",
                      "message": {"id": f"msg_bench{i}", "type": "message", "role": "assistant",
                                  "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "ok"}],
                                  "stop_reason": "end_turn",
                                  "usage": {"input_tokens": 100, "output_tokens": 1500, "cache_creation_input_tokens": 20000,
                                            "cache_read_input_tokens": 40000}}}  # fmt: skip
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    return session


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--home", type=Path, help="an existing BLUEPLANE_HOME to read (default: build one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bp-bench-statusline-") as tmp:
        session = None
        home = args.home
        if home is None:
            from blueplane.redis_server import EmbeddedRedis
            from tests.support.stores import store_build

            projects = Path(tmp) / "projects"
            shutil.copytree(CORPUS, projects)
            session = _recent_session(projects, datetime.now(UTC))
            redis = EmbeddedRedis(Path(tmp) / "redis-home")
            redis.start()
            try:
                home = store_build(Path(tmp) / "home", redis.url, projects)
            finally:
                redis.stop()
        plain = statusline_p95(home, args.runs, session_id=session)
        official = statusline_p95(home, args.runs, session_id=session, rate_limits=True)
    for name, result in (("status line", plain), ("with official rate limits", official)):
        print(f"{name}: P50 {result['p50_ms']} ms, P95 {result['p95_ms']} ms, max {result['max_ms']} ms "
              f"over {result['runs']} runs (target P95 <= 50 ms)")  # fmt: skip
        print(f"  {result['line']}")
    print(json.dumps({"statusline": plain, "statusline_rate_limits": official, "target_p95_ms": 50}))


if __name__ == "__main__":
    main()
