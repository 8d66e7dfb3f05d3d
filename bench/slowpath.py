"""Benchmark of the slow path as shipped: real `runfastpath` and `celery -A blueplane worker
--concurrency 2` subprocesses over the embedded Redis and SQLite, in a fresh BLUEPLANE_HOME.

Throughput: with both processes running, N envelopes (bench/events.py) are XADDed as fast as possible;
measured from the first XADD until every session's watermark has reached its newest raw event (the
derived rows commit with the watermark, so that is "turned into derived data").
Latency: a producer XADDs events of new sessions at `--rate` events/s for `--seconds`; a poller reads
the watermarks every 10 ms; an event is visible when its session's watermark reaches its seq.
Latency = first poll seeing it - its XADD time (so it is over-stated by up to the poll interval).

The last line printed is one JSON object with every figure.

The throughput run's default, 100,000 events (~10 s), keeps start-up and the last coalescing window
(up to BLUEPLANE_SLOWPATH_COALESCE_MAX_MS after the final batch) from dominating: at 50,000 they are ~10% of it.

usage: python bench/slowpath.py [-n 100000] [--rate 1000] [--seconds 10] [--keep]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import envelopes_generate  # noqa: E402
from bench.fastpath import django_start, pct, stream_prefill  # noqa: E402

TARGETS = {"events_per_s": (">=", 10_000), "latency_p95_ms": ("<=", 1000.0)}


def processes_start(home: Path, concurrency: int) -> list[subprocess.Popen]:
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_LOG_LEVEL": "WARNING"}
    env.pop("BLUEPLANE_DATABASE_URL", None)
    log = open(home / "processes.log", "w")  # noqa: SIM115 (lives as long as the processes)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "blueplane", "worker", "--concurrency", str(concurrency),
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    fast = subprocess.Popen(
        [sys.executable, "manage.py", "runfastpath", "--consumer", "bench"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return [worker, fast]


def processes_stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def watermarks() -> dict[tuple[str, str], tuple[int, int]]:
    from telemetry.models import SessionProgress

    return {
        (p, s): (done, through)
        for p, s, done, through in SessionProgress.objects.values_list(
            "platform", "session_id", "processed_seq", "raw_through_seq"
        )
    }


def sessions_stored() -> set[tuple[str, str]]:
    from telemetry.models import RawChunk

    return set(RawChunk.objects.values_list("platform", "session_id").distinct())


def raw_count() -> int:
    from telemetry.models import RAW_TRACE_MODELS

    return sum(m.objects.count() for m in RAW_TRACE_MODELS.values())


def caught_up(expected_raw: int) -> bool:
    if raw_count() < expected_raw:
        return False
    marks = watermarks()
    return all(k in marks and marks[k][0] >= marks[k][1] > 0 for k in sessions_stored())


def wait(cond, what: str, timeout_s: float) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.02)
    return time.perf_counter()


def run_throughput(client: Any, n: int, seed: int) -> dict[str, Any]:
    events = envelopes_generate(n, seed=seed)
    before = raw_count()
    t0 = time.perf_counter()
    stream_prefill(client, events)
    t_sent = time.perf_counter()
    t_stored = wait(lambda: raw_count() >= before + n, "raw rows", 600)
    t_done = wait(lambda: caught_up(before + n), "the slow path", 600)
    return {
        "n_events": n,
        "xadd_s": round(t_sent - t0, 3),
        "stored_s": round(t_stored - t0, 3),
        "derived_s": round(t_done - t0, 3),
        "events_per_s": round(n / (t_done - t0)),
    }


def run_latency(client: Any, rate: int, seconds: float, seed: int) -> dict[str, Any]:
    from django.db import connection

    from telemetry.ingest.envelope import event_decode
    from telemetry.models import RAW_TRACE_MODELS
    from telemetry.wire import EVENTS_STREAM

    events = envelopes_generate(int(rate * seconds), seed=seed)
    decoded = [event_decode(e, max_bytes=1 << 24) for e in events]
    sent_at: list[float] = [0.0] * len(events)
    polls: list[tuple[float, dict]] = []
    stop = threading.Event()

    def poller() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            polls.append((t, {k: v[0] for k, v in watermarks().items()}))
            stop.wait(0.01)
        connection.close()

    thread = threading.Thread(target=poller, daemon=True)
    thread.start()
    chunk = max(1, rate // 100)
    t0 = time.perf_counter()
    for i in range(0, len(events), chunk):
        due = t0 + i / rate
        if due > time.perf_counter():
            time.sleep(due - time.perf_counter())
        pipe = client.pipeline(transaction=False)
        for e in events[i : i + chunk]:
            pipe.xadd(EVENTS_STREAM, {"event": e})
        pipe.execute()
        now = time.perf_counter()
        for j in range(i, min(i + chunk, len(events))):
            sent_at[j] = now
    achieved = len(events) / (time.perf_counter() - t0)
    wait(lambda: bool(polls) and caught_up(0) and raw_count() > 0, "the slow path", 120)
    time.sleep(0.05)
    stop.set()
    thread.join()

    seq_of: dict[bytes, int] = {}
    keys = [d.event_key for d in decoded]
    for model in RAW_TRACE_MODELS.values():
        for i in range(0, len(keys), 500):
            for key, seq in model.objects.filter(event_key__in=keys[i : i + 500]).values_list(
                "event_key", "seq"
            ):
                seq_of[bytes(key)] = seq
    latencies = []
    for d, sent in zip(decoded, sent_at, strict=True):
        seq = seq_of.get(d.event_key)
        if seq is None:
            continue  # a duplicate id in the generated stream: stored once
        k = (d.platform, d.session_id)
        seen = next((t for t, marks in polls if t >= sent and marks.get(k, 0) >= seq), None)
        if seen is not None:
            latencies.append((seen - sent) * 1000)
    return {
        "rate_target": rate,
        "rate_achieved": round(achieved),
        "latency_events": len(latencies),
        "latency_p50_ms": round(pct(latencies, 50), 1),
        "latency_p95_ms": round(pct(latencies, 95), 1),
        "latency_p99_ms": round(pct(latencies, 99), 1),
        "latency_max_ms": round(max(latencies), 1) if latencies else None,
        "poll_interval_ms": 10,
    }


def derived_counts() -> dict[str, int]:
    from telemetry.models import ActivityHour, Session, ToolCall, ToolHour, Turn, UsageHour

    return {
        m._meta.db_table: m.objects.count()
        for m in (Session, Turn, ToolCall, UsageHour, ToolHour, ActivityHour)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100_000, help="events for the throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary BLUEPLANE_HOME")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bp-slow-"))
    django_start(home)
    import redis

    from blueplane.redis_server import EmbeddedRedis

    server = EmbeddedRedis(home)
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    procs = processes_start(home, args.concurrency)
    fig: dict[str, Any] = {"workers": args.concurrency}
    try:
        # Warm-up: processes up, imports done, a first task through.
        warm = envelopes_generate(200, seed=99)
        stream_prefill(client, warm)
        wait(
            lambda: caught_up(len(warm)), "the warm-up events (are the worker and runfastpath running?)", 120
        )
        fig |= run_throughput(client, args.n, seed=11)
        fig |= run_latency(client, args.rate, args.seconds, seed=12)
        fig |= {"derived_rows": derived_counts()}
    finally:
        processes_stop(procs)
        server.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    fig["targets"] = {
        name: {"target": f"{op} {bound}", "ok": (fig[name] >= bound) if op == ">=" else (fig[name] <= bound)}
        for name, (op, bound) in TARGETS.items()
    }
    print(f"throughput: {fig['n_events']} events XADD->derived in {fig['derived_s']} s = {fig['events_per_s']} events/s "
          f"(stored after {fig['stored_s']} s), {args.concurrency} worker processes")  # fmt: skip
    print(f"latency at {fig['rate_achieved']} events/s: p50 {fig['latency_p50_ms']} ms, p95 {fig['latency_p95_ms']} ms, "
          f"p99 {fig['latency_p99_ms']} ms, max {fig['latency_max_ms']} ms ({fig['latency_events']} events)")  # fmt: skip
    print(f"derived rows: {fig['derived_rows']}")
    for name, t in fig["targets"].items():
        print(f"target {name} {t['target']}: {'ok' if t['ok'] else 'MISSED'}")
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
