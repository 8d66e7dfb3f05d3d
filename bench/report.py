"""Benchmark of `blueplane report daily --json` against `ccusage daily --json --offline` on the same
transcripts, after loading them through the real pipeline as a user would.

The corpus: `--copies` (default 60) shifted copies of tests/fixtures/claude-real/projects (copy k is k
days earlier, so the history ends on the corpus's day, with its own session ids, uuids, message and
request ids, so Blueplane and ccusage both count it as new; tests/support/shifted.py), ~350 MB, kept
under .bench/report/ and reused by later runs.

Loading: `blueplane up --detach` on a BLUEPLANE_HOME of its own (embedded Redis and SQLite, a free port,
never 7531), then `blueplane import claude-code` of the copies; loading ends when the report is complete:
nothing read is left unstored, the slow path has no session behind and the stored events no longer change,
as `blueplane status --json` says. Blueplane's own CLAUDE_CONFIG_DIR is an empty one in its home, so its
transcript tailer does not read the copies too. Throughput: transcript MB/s and stored events/s over
that time.

Then, in one run, side by side and alternating, after one unmeasured run each: `--runs` (default 5) runs
of each command (TZ=UTC, ccusage with CLAUDE_CONFIG_DIR on the copies), wall time including interpreter
or runtime start, median of each, their ratio (target: Blueplane's at most 0.7x ccusage's), and the two
reports' totals, which must be equal (tokens exactly, cost within 10^-6 USD). The status line's P95 on
this store is measured by bench/statusline.py when this tree has it (else null, saying so). Blueplane is stopped at the
end unless `--keep`; `--home PATH` reuses a home a previous `--keep` run loaded. The last line printed
is one JSON object with every figure.

usage: python bench/report.py [--copies 60] [--runs 5] [--keep] [--home PATH]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.shifted import corpus_copies  # noqa: E402

WORK = ROOT / ".bench" / "report"
PROJECTS = ROOT / "tests" / "fixtures" / "claude-real" / "projects"
BLUEPLANE = Path(sys.executable).parent / "blueplane"
CCUSAGE = ROOT / "tests" / "support" / "claude-real" / "node_modules" / ".bin" / "ccusage"
RATIO_TARGET = 0.7
STATUSLINE_RUNS = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return port if port != 7531 else free_port()


def corpus(copies: int) -> tuple[Path, int]:
    """CLAUDE_CONFIG_DIR holding `copies` shifted copies under projects/ (made once), and their bytes."""
    claude = WORK / f"claude-{copies}-past"
    done = claude / "done"
    if not done.exists():
        shutil.rmtree(claude, ignore_errors=True)
        print(f"writing {copies} shifted copies of the corpus ...", file=sys.stderr)
        corpus_copies(PROJECTS, claude / "projects", copies, step_days=-1)  # into the past, as history is
        done.write_text("")
    size = sum(p.stat().st_size for p in (claude / "projects").rglob("*") if p.is_file())
    return claude, size


def run(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800, **kwargs)


def status(env: dict) -> dict:
    result = run([str(BLUEPLANE), "status", "--json"], env)
    return json.loads(result.stdout) if result.stdout.strip() else {}


def idle(state: dict) -> bool:
    """Nothing read and not yet stored, and no session behind in the slow path."""
    stream, lag = state.get("stream"), state.get("slowpath")
    return bool(
        stream is not None and stream["pending"] == 0
        and lag is not None and lag["sessions_behind"] == 0 and not lag["dirty_sessions"]
    )  # fmt: skip


def load(env: dict, claude: Path) -> dict:
    """`blueplane import` of the copies into the running system; until the report is complete."""
    started = time.perf_counter()
    imported = run([str(BLUEPLANE), "import", "claude-code", str(claude / "projects")], env)
    if imported.returncode != 0:
        raise SystemExit(f"import failed: {imported.stderr.strip()[-500:]}")
    sent = time.perf_counter() - started
    # Complete: the pipeline idle, and the stored events the same as a second earlier (the stream
    # keeps a few acknowledged entries, so its length is no sign).
    before = None
    while True:
        state = status(env)
        events = sum(state["database"]["raw_traces"].values())
        if idle(state) and events == before:
            break
        print(f"  {events} events stored, {state.get('slowpath')}", file=sys.stderr)
        before = events
        time.sleep(1.0)
    wall = time.perf_counter() - started
    return {"import_s": round(wall, 2), "import_send_s": round(sent, 2), "events": events}


def timed(args: list[str], env: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    result = run(args, env)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {result.stderr.strip()[-500:]}")
    return wall, json.loads(result.stdout)


def totals_equal(ours: dict, theirs: dict) -> bool:
    tokens = ("inputTokens", "outputTokens", "cacheCreationTokens", "cacheReadTokens", "totalTokens")
    return all(ours[k] == theirs[k] for k in tokens) and abs(ours["totalCost"] - theirs["totalCost"]) < 1e-6


def statusline_p95(home: Path) -> tuple[float | None, str]:
    """P95 of the installed status line command on this store, measured by bench/statusline.py (as Claude
    Code runs it) when this tree has it; else None."""
    try:
        from bench import statusline
    except ImportError:
        return None, "no bench/statusline.py in this tree (the status line is another part of issue 10)"
    figures = statusline.statusline_p95(home, runs=STATUSLINE_RUNS)
    return figures["p95_ms"], f"{STATUSLINE_RUNS} runs, P50 {figures['p50_ms']} ms: {figures['line']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave Blueplane running and the home in place")
    parser.add_argument("--home", type=Path, help="a home a previous --keep run loaded: skip loading")
    args = parser.parse_args()

    claude, size = corpus(args.copies)
    home = args.home or WORK / f"home-{args.copies}-past"
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_PORT": str(free_port()), "TZ": "UTC",
           "CLAUDE_CONFIG_DIR": str(home / "claude")}  # fmt: skip
    ccusage_env = {**env, "CLAUDE_CONFIG_DIR": str(claude)}
    for name in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL", "NO_COLOR"):
        env.pop(name, None)
    figures: dict = {"copies": args.copies, "corpus_mb": round(size / 1e6, 1)}
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)
    up = run([str(BLUEPLANE), "up", "--detach"], env)
    if up.returncode != 0 and "already running" not in up.stderr:
        raise SystemExit(f"blueplane up failed: {up.stderr.strip()[-500:]}")
    try:
        while not status(env).get("supervisor", {}).get("ready"):
            time.sleep(0.5)
        if args.home is None:
            print("importing through the pipeline ...", file=sys.stderr)
            loaded = load(env, claude)
            figures |= loaded
            figures["import_mb_per_s"] = round(size / 1e6 / loaded["import_s"], 2)
            figures["import_events_per_s"] = round(loaded["events"] / loaded["import_s"], 1)

        ours_cmd = [str(BLUEPLANE), "report", "daily", "--json"]
        theirs_cmd = [str(CCUSAGE), "daily", "--json", "--offline"]
        timed(ours_cmd, env), timed(theirs_cmd, ccusage_env)  # warm the page cache for both
        ours_s, theirs_s = [], []
        for _ in range(args.runs):
            wall, ours = timed(ours_cmd, env)
            ours_s.append(wall)
            wall, theirs = timed(theirs_cmd, ccusage_env)
            theirs_s.append(wall)
        figures["report_daily_median_s"] = round(statistics.median(ours_s), 3)
        figures["ccusage_daily_median_s"] = round(statistics.median(theirs_s), 3)
        figures["ratio"] = round(figures["report_daily_median_s"] / figures["ccusage_daily_median_s"], 3)
        figures["ratio_target"] = RATIO_TARGET
        figures["ratio_met"] = figures["ratio"] <= RATIO_TARGET
        figures["days"] = len(ours["daily"])
        figures["totals_equal"] = totals_equal(ours["totals"], theirs["totals"])
        figures["totals"] = {"blueplane": ours["totals"], "ccusage": theirs["totals"]}
        figures["statusline_p95_ms"], figures["statusline_note"] = statusline_p95(home)
    finally:
        if not args.keep:
            run([str(BLUEPLANE), "down"], env)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
