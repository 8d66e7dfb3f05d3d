"""Benchmark of the fast path as shipped: StreamConsumer over the embedded Redis into SQLite.

Backlog mode (default): pre-fill `telemetry:events` with N envelopes (bench/events.py, a seed the
dictionary was not trained on), drain them (`--repeats` times into a fresh store, reporting the median
run, as the limits loop does) as runfastpath does (`run()`: a reader process prepares
batches, this one commits them; `--inline` does both in this process with `run_once()`), then re-pack
and VACUUM, and report throughput, batch latency, compression and database size per event.
Rate mode (`--rate R`): a producer process XADDs R events/s for `--seconds` while the consumer runs;
reports batch processing time and end-to-end latency (XADD to commit, and to ack).
`--with-limits` also runs bench/limits/bench_e2e.py backlog (the minimal loop that sets the speed
bar) in a copy under /tmp, so both are measured in one session on this shared machine.
`--profile FILE` runs the drain under cProfile and prints the hot spots in telemetry/ingest (with
`--inline`: the reader process is out of the profiler's sight); `--inline` also prints each step's
share of the wall time.

Everything runs in a fresh BLUEPLANE_HOME under /tmp (removed afterwards unless --keep). The last line
printed is one JSON object with every figure.

usage: python bench/fastpath.py [-n 50000] [--seed 7] [--repeats 3] [--rate R [--seconds 8]] [--inline]
                                [--with-limits] [--profile FILE] [--keep]
"""

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import envelopes_generate  # noqa: E402

TRAIN_SEED = 1001  # bench/train_dictionary.py trains on this seed; measure on another
LIMITS_DIR = ROOT / "bench" / "limits"  # the minimal loop, copied as written from the design's shared folder
TARGETS = {
    "events_per_s": (">=", 45_000),
    "batch_p95_ms": ("<=", 5.0),
    "ratio_repacked": (">=", 7.0),
    "db_to_event_bytes_repacked_vacuumed": ("<=", 0.25),
}


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the same definition as bench/limits/common.py)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))
    return s[k]


def ms_summary(prefix: str, seconds: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {f"{prefix}_p{p}_ms": round(pct(ms, p), 3) for p in (50, 95, 99)} | {
        f"{prefix}_max_ms": round(max(ms), 3) if ms else float("nan")
    }


class Phases:
    """Wall time spent in the functions the consumer calls, by wrapping them (about 1 us per call)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.commit_wall: float = 0.0  # time.time() when the last batch_write returned (committed)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, attr: str, name: str, *, commit: bool = False) -> None:
        fn = getattr(owner, attr, None)
        if fn is None:  # the fast path's code moved on; time what still exists
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0
                if commit:
                    self.commit_wall = time.time()

        self._undo.append((owner, attr, fn))
        setattr(owner, attr, timed)

    def instrument(self, consumer: Any) -> None:
        from telemetry.ingest import batching, notify
        from telemetry.store import writer

        self.wrap(consumer.stream, "read", "xreadgroup")
        self.wrap(consumer, "prepare", "prepare")
        self.wrap(consumer, "commit", "commit")
        self.wrap(batching, "entries_decode", "decode+validate")
        self.wrap(batching, "units_group", "group")
        self.wrap(batching, "units_compress", "compress")
        self.wrap(writer, "batch_write", "sqlite txn", commit=True)
        self.wrap(notify, "wake_slow_path", "celery enqueue")

    def wrap_commit(self) -> None:
        """Only what end-to-end latency needs: when each batch's transaction committed."""
        from telemetry.store import writer

        self.wrap(writer, "batch_write", "sqlite txn", commit=True)

    @staticmethod
    def shares(seconds: dict[str, float], wall: float) -> dict[str, float]:
        """Percent of wall time per step; the Redis pipeline (CDC, dirty marks, XACK) is what commit
        spends outside the SQLite transaction and the Celery enqueue."""
        s = dict(seconds)
        out = {k: s.get(k, 0.0) for k in ("xreadgroup", "decode+validate", "group", "compress", "sqlite txn")}
        if "commit" in s:
            out["redis cdc+dirty+xack"] = (
                s["commit"] - s.get("sqlite txn", 0.0) - s.get("celery enqueue", 0.0)
            )
        out["celery enqueue"] = s.get("celery enqueue", 0.0)
        accounted = s.get("xreadgroup", 0.0) + s.get("prepare", 0.0) + s.get("commit", 0.0)
        out["other (loop, housekeeping, prepare glue)"] = (
            wall
            - accounted
            + (
                s.get("prepare", 0.0)
                - s.get("decode+validate", 0.0)
                - s.get("group", 0.0)
                - s.get("compress", 0.0)
            )
        )
        return {k: round(100 * v / wall, 1) for k, v in out.items()}

    def restore(self) -> None:
        for owner, attr, fn in reversed(self._undo):
            setattr(owner, attr, fn)
        self._undo.clear()


# ---- environment -----------------------------------------------------------------------------------


def django_start(home: Path) -> None:
    """Point the project at a fresh home (before Django reads settings), migrate, start the Redis."""
    os.environ["BLUEPLANE_HOME"] = str(home)
    for var in ("BLUEPLANE_REDIS_URL", "BLUEPLANE_DATABASE_URL"):
        os.environ.pop(var, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "blueplane.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from blueplane.redis_server import EmbeddedRedis

    call_command("migrate", verbosity=0)
    EmbeddedRedis(home).start()


@contextmanager
def fastpath_regime(*, background_checkpoints: bool = True) -> Iterator[None]:
    """The conditions StreamConsumer.run() (runfastpath) consumes under: WAL checkpoints in a
    background thread, none in the commits. Nothing if this version of the code has no such thing,
    or with background_checkpoints=False (SQLite's automatic checkpoints, for comparison)."""
    if not background_checkpoints:
        yield
        return
    try:
        from telemetry.ingest.checkpoint import automatic_checkpoints_off, wal_checkpoints
    except ImportError:
        yield
        return
    from django.conf import settings

    limit = getattr(settings, "SQLITE_WAL_MAX_BYTES", None)
    with wal_checkpoints(**({"max_bytes": limit} if limit else {})), automatic_checkpoints_off():
        yield


def aof_rewrite_wait(client: Any) -> float:
    """Wait for the AOF rewrite that the prefill's ~80 MB sets off (Redis forks a child that copies
    the whole dataset), so the drain is measured without it. A backlog that built up over hours has
    had its rewrites long before the fast path drains it."""
    t0 = time.perf_counter()
    while True:
        info = client.info("persistence")
        if not (info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]):
            return time.perf_counter() - t0
        time.sleep(0.05)


def redis_cpu_s() -> float:
    """CPU seconds the embedded redis-server has used (it shares the machine's cores with the drain)."""
    from django.conf import settings

    pid = int((settings.REDIS_SOCKET_PATH.parent / "redis.pid").read_text())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_prefill(client: Any, events: list[bytes]) -> None:
    from telemetry.wire import EVENTS_STREAM

    for i in range(0, len(events), 1000):
        pipe = client.pipeline(transaction=False)
        for e in events[i : i + 1000]:
            pipe.xadd(EVENTS_STREAM, {"event": e})
        pipe.execute()


# ---- the store -------------------------------------------------------------------------------------


def db_files_bytes() -> int:
    """DB + WAL file size after a TRUNCATE checkpoint (what the user's disk holds)."""
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(settings.DATABASES["default"]["NAME"])
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def db_breakdown() -> dict[str, int] | None:
    """Bytes by kind from the dbstat virtual table, or None if SQLite was built without it."""
    from django.db import OperationalError, connection

    with connection.cursor() as c:
        try:
            c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
        except OperationalError:
            return None
        sizes = dict(c.fetchall())
        c.execute("SELECT name, type, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")
        kinds = {name: (kind, table) for name, kind, table in c.fetchall()}
        c.execute("PRAGMA freelist_count")
        free_pages = c.fetchone()[0]
        c.execute("PRAGMA page_size")
        page = c.fetchone()[0]
    raw_tables = {"claude_raw_traces", "cursor_raw_traces"}
    out = {"chunks_table": 0, "trace_tables": 0, "raw_indexes": 0, "other": 0, "free": free_pages * page}
    for name, size in sizes.items():
        kind, table = kinds.get(name, ("table", name))
        if table == "raw_chunks" and kind == "table":
            out["chunks_table"] += size
        elif table in raw_tables and kind == "table":
            out["trace_tables"] += size
        elif (table in raw_tables or table == "raw_chunks") and kind == "index":
            out["raw_indexes"] += size
        else:
            out["other"] += size
    return out


def chunk_totals() -> tuple[int, int, int]:
    """(event bytes, compressed bytes, units) over raw_chunks."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT SUM(raw_bytes), SUM(LENGTH(body)), COUNT(*) FROM raw_chunks")
        raw, packed, units = c.fetchone()
    return raw or 0, packed or 0, units or 0


class WalPeak:
    """The largest size the database's WAL file reaches while the drain runs (sampled every 5 ms)."""

    def __init__(self) -> None:
        import threading

        from django.conf import settings

        self.path = Path(settings.DATABASES["default"]["NAME"] + "-wal")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            with suppress(FileNotFoundError):
                self.peak = max(self.peak, self.path.stat().st_size)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def rows_stored() -> int:
    from telemetry.models import RAW_TRACE_MODELS

    return sum(m.objects.count() for m in RAW_TRACE_MODELS.values())


def store_report(n_events: int, event_bytes: int, baseline_bytes: int) -> dict[str, Any]:
    """Compression and size figures: as written, after re-packing, after re-packing + VACUUM."""
    from django.db import connection

    from telemetry.store.repack import units_repack

    out: dict[str, Any] = {"rows_stored": rows_stored(), "db_bytes_empty_schema": baseline_bytes}
    raw, packed, units = chunk_totals()
    out |= {"ratio_ingest": round(raw / packed, 3), "units_ingest": units, "events_per_unit_ingest": 0.0}
    out["events_per_unit_ingest"] = round(out["rows_stored"] / units, 2)
    size = db_files_bytes()
    stats = db_breakdown()
    out |= size_figures("as_written", size, stats, n_events, event_bytes)

    t0 = time.perf_counter()
    written = 0
    while step := units_repack(older_than_s=0):
        written += step
    out["repack_s"] = round(time.perf_counter() - t0, 3)
    out["repack_events_per_s"] = round(n_events / out["repack_s"]) if out["repack_s"] else None
    raw, packed, units = chunk_totals()
    out |= {"ratio_repacked": round(raw / packed, 3), "units_repacked": units}
    out |= size_figures("repacked", db_files_bytes(), None, n_events, event_bytes)

    with connection.cursor() as c:
        c.execute("VACUUM")
    size = db_files_bytes()
    out |= size_figures("repacked_vacuumed", size, db_breakdown(), n_events, event_bytes)
    return out


def size_figures(
    tag: str, size: int, stats: dict[str, int] | None, n_events: int, event_bytes: int
) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"db_bytes_{tag}": size,
        f"db_bytes_per_event_{tag}": round(size / n_events, 1),
        f"db_to_event_bytes_{tag}": round(size / event_bytes, 4),
    }
    if stats is not None:
        out[f"dbstat_{tag}"] = stats
        out[f"index_bytes_per_event_{tag}"] = round(stats["raw_indexes"] / n_events, 1)
        out[f"trace_row_bytes_per_event_{tag}"] = round(stats["trace_tables"] / n_events, 1)
        out[f"chunk_bytes_per_event_{tag}"] = round(stats["chunks_table"] / n_events, 1)
    return out


# ---- backlog ---------------------------------------------------------------------------------------


class Recorder:
    """Wraps consumer.commit and consumer.settle to record each batch: its stats, its stream ids, when
    its transaction committed and when its acknowledgement was confirmed."""

    def __init__(self, consumer: Any, phases: Phases) -> None:
        self.flushes: list[Any] = []
        self.batches: list[tuple[list[bytes], float, float]] = []  # (stream ids, commit wall, ack wall)
        self.first_arrival: float | None = None
        self.last_done = 0.0
        self.done = 0
        unsettled: deque[tuple[list[bytes], float]] = deque()
        commit, settle = consumer.commit, consumer.settle

        def recorded_commit(batch: Any, **kw: Any) -> None:
            if self.first_arrival is None:
                self.first_arrival = batch.arrived
            commit(batch, **kw)

        def recorded_settle() -> Any:
            pending = consumer._unsettled
            if pending is not None:
                unsettled.append((pending.batch.ack_ids, phases.commit_wall))
            stats = settle()
            if stats is not None:
                ids, committed = unsettled.popleft()
                self.last_done = time.monotonic()
                self.done += stats.entries
                self.flushes.append(stats)
                self.batches.append((ids, committed, time.time()))
            return stats

        consumer.commit = recorded_commit
        consumer.settle = recorded_settle


def drive(args: argparse.Namespace, consumer: Any, stop: Any, *, once: bool) -> None:
    """Run the consumer as runfastpath does (a reader process, unless --inline) until it drains (once)
    or stop is set. --inline drives run_once() in this process, which --profile and the per-step
    shares need (the reader process is out of a profiler's sight)."""
    if not args.inline:  # run() sets up its checkpoints itself
        consumer.reader_process = True
        consumer.run(stop, once=once)
        return
    with fastpath_regime(background_checkpoints=args.checkpoints == "background"):
        while not stop.is_set():
            if not consumer.run_once() and once:
                break  # the idle pass blocked for flush_ms: not part of the drain


def flush_figures(rec: Recorder) -> dict[str, Any]:
    done = rec.done
    return {
        "batches": len(rec.flushes),
        "avg_batch": round(done / len(rec.flushes), 1),
        "celery_enqueues": sum(f.enqueued for f in rec.flushes),
        # A batch's own processing, as in the limits loop's step: prepare + commit. Pipelined, a batch
        # also waits for the one before it; arrival_to_ack includes that wait and the ack's reply.
        **ms_summary("batch", [f.prepare_s + f.seconds for f in rec.flushes]),
        **ms_summary("prepare", [f.prepare_s for f in rec.flushes]),
        **ms_summary("commit", [f.seconds for f in rec.flushes]),
        **ms_summary("arrival_to_ack", [f.since_read for f in rec.flushes]),
    }


def run_backlog(args: argparse.Namespace, events: list[bytes], baseline: int) -> dict[str, Any]:
    """Drain the backlog args.repeats times, each into a fresh database and Redis; the figures are
    those of the median run by throughput (as the limits loop reports its median), and the store
    is left as that last run wrote it."""
    runs = []
    for i in range(args.repeats):
        if i:
            store_reset()
        runs.append(drain_backlog(args, events))
    ranked = sorted(runs, key=lambda r: r["events_per_s"])
    median = ranked[len(ranked) // 2]
    return median | {"repeats": args.repeats, "events_per_s_runs": [r["events_per_s"] for r in runs]}


def store_reset() -> None:
    """An empty database (migrated afresh) and an empty Redis."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from telemetry.connections import redis_client

    connections.close_all()
    path = Path(settings.DATABASES["default"]["NAME"])
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    call_command("migrate", verbosity=0)
    redis_client().flushall()


def drain_backlog(args: argparse.Namespace, events: list[bytes]) -> dict[str, Any]:
    import resource
    import threading

    from telemetry.connections import redis_client
    from telemetry.ingest.consumer import StreamConsumer
    from telemetry.wire import EVENTS_STREAM, GROUP

    client = redis_client()
    t0 = time.perf_counter()
    stream_prefill(client, events)
    prefill_s = time.perf_counter() - t0
    rewrite_wait_s = aof_rewrite_wait(client)
    consumer = StreamConsumer.from_settings(consumer="bench")
    phases = Phases()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    elif args.inline:
        phases.instrument(consumer)
    else:
        phases.wrap_commit()

    def cpu() -> float:
        return sum(
            getattr(resource.getrusage(who), f)
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            for f in ("ru_utime", "ru_stime")
        )

    rec = Recorder(consumer, phases)
    wal = WalPeak()
    c0, r0, t0 = cpu(), redis_cpu_s(), time.monotonic()
    drive(args, consumer, threading.Event(), once=True)
    if profiler:
        profiler.disable()
    wal_peak = wal.stop()
    wall = rec.last_done - rec.first_arrival
    cpu_s = cpu() - c0  # the reader process included (it has exited and been waited for)
    redis_cores = (redis_cpu_s() - r0) / (time.monotonic() - t0)
    phases.restore()
    pending = client.xpending(EVENTS_STREAM, GROUP)["pending"]
    out: dict[str, Any] = {
        "consumer": "inline" if args.inline else "reader process",
        "events_handled": rec.done,
        "prefill_s": round(prefill_s, 3),
        "aof_rewrite_wait_s": round(rewrite_wait_s, 3),
        "drain_s": round(wall, 3),
        "events_per_s": round(rec.done / wall),
        "event_mb_per_s": round(sum(map(len, events)) / wall / 1e6, 2),
        "cpu_cores": round(cpu_s / wall, 3),
        "redis_cpu_cores": round(redis_cores, 3),
        "pending_after": pending,
        "wal_peak_mb": round(wal_peak / 1e6, 1),
        **flush_figures(rec),
    }
    if args.inline and not args.profile:
        out["phase_pct"] = Phases.shares(dict(phases.seconds), wall)
    if profiler:
        profile_report(profiler, args.profile)
    return out


def profile_report(profiler: Any, path: str) -> None:
    import io
    import pstats

    profiler.dump_stats(path)
    for key, restrict in (("tottime", 30), ("cumulative", 40)):
        buf = io.StringIO()
        stats = pstats.Stats(profiler, stream=buf).strip_dirs().sort_stats(key)
        stats.print_stats(restrict)
        print(f"\n--- cProfile, top {restrict} by {key} (saved to {path}) ---")
        print("\n".join(buf.getvalue().splitlines()[4:]))
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(r"telemetry/ingest", 25)
    print("--- cProfile, telemetry/ingest functions by own time ---")
    print("\n".join(buf.getvalue().splitlines()[4:]))


# ---- rate ------------------------------------------------------------------------------------------


def _producer(sock: str, events: list[bytes], rate: int, seconds: float, ready: Any, sent: Any) -> None:
    import redis

    from telemetry.wire import EVENTS_STREAM

    r = redis.Redis(unix_socket_path=sock)
    chunk = max(1, rate // 100)  # one pipeline every 10 ms
    ready.wait()
    t0 = time.perf_counter()
    i = 0
    while time.perf_counter() - t0 < seconds and i < len(events):
        pipe = r.pipeline(transaction=False)
        for e in events[i : i + chunk]:
            pipe.xadd(EVENTS_STREAM, {"event": e})
        i += len(events[i : i + chunk])
        pipe.execute()
        next_t = t0 + i / rate
        if next_t > time.perf_counter():
            time.sleep(next_t - time.perf_counter())
    sent.value = i


def run_rate(args: argparse.Namespace, events: list[bytes], baseline: int) -> dict[str, Any]:
    import threading

    from django.conf import settings

    from telemetry.connections import redis_client
    from telemetry.ingest.consumer import StreamConsumer

    consumer = StreamConsumer.from_settings(consumer="bench")
    phases = Phases()
    phases.wrap_commit()
    ctx = mp.get_context("fork")
    ready, sent = ctx.Event(), ctx.Value("q", 0)
    sock = str(settings.REDIS_SOCKET_PATH)
    prod = ctx.Process(target=_producer, args=(sock, events, args.rate, args.seconds, ready, sent))
    prod.start()
    redis_client().ping()
    stop = threading.Event()
    rec = Recorder(consumer, phases)

    def stop_when_all_handled() -> None:
        prod.join()
        while rec.done < sent.value:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=stop_when_all_handled, daemon=True).start()
    ready.set()
    t0 = time.monotonic()
    drive(args, consumer, stop, once=False)
    wall = rec.last_done - t0
    phases.restore()
    commit_lat: list[float] = []
    ack_lat: list[float] = []
    for ids, commit, ack in rec.batches:
        for sid in ids:
            xadd_s = int(sid.split(b"-")[0]) / 1000
            commit_lat.append(commit - xadd_s)
            ack_lat.append(ack - xadd_s)
    return {
        "consumer": "inline" if args.inline else "reader process",
        "rate_target": args.rate,
        "events_sent": sent.value,
        "events_handled": rec.done,
        "events_per_s": round(rec.done / wall),
        **flush_figures(rec),
        **ms_summary("e2e_commit", commit_lat),
        **ms_summary("e2e_ack", ack_lat),
    }


# ---- the limits loop -------------------------------------------------------------------------------


def run_limits(repeats: int) -> dict[str, Any] | None:
    """Run bench/limits/bench_e2e.py backlog in a copy under /tmp; medians per variant."""
    if not LIMITS_DIR.is_dir():
        print(f"no {LIMITS_DIR}: skipping the limits comparison")
        return None
    work = Path(tempfile.mkdtemp(prefix="bpl-", dir="/tmp"))
    try:
        shutil.copytree(LIMITS_DIR, work / "limits", ignore=shutil.ignore_patterns(".work", "__pycache__"))
        env = os.environ | {"LIMITS_REPEATS": str(repeats)}
        for var in ("DJANGO_SETTINGS_MODULE", "BLUEPLANE_HOME"):
            env.pop(var, None)
        cwd = work / "limits"
        print(
            f"\nlimits: gen_events.py 50000 and bench_e2e.py backlog (repeats={repeats}) in {cwd}", flush=True
        )
        subprocess.run([sys.executable, "gen_events.py", "50000"], cwd=cwd, env=env, check=True)
        subprocess.run([sys.executable, "bench_e2e.py", "backlog"], cwd=cwd, env=env, check=True)
        saved = json.loads((cwd / ".work/results/e2e-backlog.json").read_text())
        out = {"repeats": repeats, "foreign_cores": round(saved["load"]["foreign_cores"], 2), "variants": {}}
        for name, res in saved["results"].items():
            s = res["summary"]
            out["variants"][name.strip()] = {
                "events_per_s": round(s["events_per_s"]["median"]),
                "batch_p95_ms": round(s["batch_p95_ms"]["median"], 3),
            }
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- main ------------------------------------------------------------------------------------------


def targets_check(fig: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, (op, bound) in TARGETS.items():
        if key == "events_per_s" and fig["mode"] == "rate":
            continue  # the producer sets the rate
        value = fig.get(key)
        if value is None:
            continue
        ok = value >= bound if op == ">=" else value <= bound
        out[key] = {"target": f"{op} {bound}", "value": value, "ok": ok}
    limits = fig.get("limits")
    if limits and fig["mode"] == "backlog":
        # The target is set as 0.8x of the minimal loop; this machine's speed moves from run to run,
        # so the ratio to its fastest variant, measured in the same session, is the comparable figure.
        best = max(v["events_per_s"] for v in limits["variants"].values())
        ratio = round(fig["events_per_s"] / best, 3)
        out["events_per_s_vs_limits_best"] = {"target": ">= 0.8", "value": ratio, "ok": ratio >= 0.8}
    return out


def _lat(fig: dict[str, Any], prefix: str) -> str:
    return "  ".join(f"{q} {fig[f'{prefix}_{q.lower()}_ms']}" for q in ("P50", "P95", "P99", "max"))


def batch_lines(fig: dict[str, Any]) -> None:
    print(f"batch = prepare + commit ms: {_lat(fig, 'batch')}")
    print(f"  prepare (decode, validate, compress) ms: {_lat(fig, 'prepare')}")
    print(f"  commit (insert, send publish + ack) ms: {_lat(fig, 'commit')}")
    print(f"arrival (XREADGROUP reply) to XACK reply, waits included ms: {_lat(fig, 'arrival_to_ack')}")


def print_readable(fig: dict[str, Any]) -> None:
    p = print
    p("")
    if fig["mode"] == "backlog":
        p(f"drains: {fig['events_per_s_runs']} events/s; the median run:")
        p(
            f"drain: {fig['events_handled']} events in {fig['drain_s']} s = {fig['events_per_s']} events/s "
            f"({fig['event_mb_per_s']} MB/s), consumer: {fig['consumer']}, CPU {fig['cpu_cores']} cores "
            f"(+ redis-server {fig['redis_cpu_cores']}), "
            f"{fig['batches']} batches of {fig['avg_batch']}, celery enqueues {fig['celery_enqueues']}, "
            f"pending after {fig['pending_after']}, WAL peak {fig['wal_peak_mb']} MB"
        )
        batch_lines(fig)
        if "phase_pct" in fig:
            p("share of drain wall time: " + ", ".join(f"{k} {v}%" for k, v in fig["phase_pct"].items()))
    else:
        p(
            f"rate {fig['rate_target']}/s: {fig['events_handled']} of {fig['events_sent']} events handled, "
            f"{fig['batches']} batches of {fig['avg_batch']} on average"
        )
        batch_lines(fig)
        p(f"end to end, XADD -> commit ms: {_lat(fig, 'e2e_commit')}")
        p(f"end to end, XADD -> XACK ms: {_lat(fig, 'e2e_ack')}")
    p(
        f"compression: {fig['ratio_ingest']}x at ingest ({fig['events_per_unit_ingest']} events/unit), "
        f"{fig['ratio_repacked']}x after re-packing ({fig['units_repacked']} units, {fig['repack_s']} s)"
    )
    p(
        f"event bytes {fig['event_bytes']:,} ({fig['event_bytes_avg']} B/event avg); "
        f"empty schema {fig['db_bytes_empty_schema']:,} B"
    )
    labels = {
        "as_written": "as written",
        "repacked": "after re-pack",
        "repacked_vacuumed": "re-pack + VACUUM",
    }
    for tag, label in labels.items():
        line = (
            f"DB {label}: {fig[f'db_bytes_{tag}']:,} B = {fig[f'db_bytes_per_event_{tag}']} B/event "
            f"= {fig[f'db_to_event_bytes_{tag}']} of event bytes"
        )
        if f"index_bytes_per_event_{tag}" in fig:
            line += (
                f"; per event: units {fig[f'chunk_bytes_per_event_{tag}']} B, index rows "
                f"{fig[f'trace_row_bytes_per_event_{tag}']} B, indexes {fig[f'index_bytes_per_event_{tag}']} B"
            )
        p(line)
    if fig.get("limits"):
        p(f"limits loop (median of {fig['limits']['repeats']} runs, this session):")
        for name, v in fig["limits"]["variants"].items():
            p(f"  {name:<66} {v['events_per_s']:>7} events/s  batch P95 {v['batch_p95_ms']} ms")
    checks = [
        f"{k} {v['value']} ({v['target']}: {'ok' if v['ok'] else 'MISSED'})"
        for k, v in fig["targets"].items()
    ]
    p("targets: " + ", ".join(checks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=50_000, help="events to pre-fill (backlog)")
    parser.add_argument("--seed", type=int, default=7, help=f"generator seed (training uses {TRAIN_SEED})")
    parser.add_argument("--rate", type=int, default=0, help="producer rate, events/s (rate mode)")
    parser.add_argument("--seconds", type=float, default=8.0, help="producer duration in rate mode")
    parser.add_argument(
        "--with-limits", action="store_true", help="also run the minimal loop in bench/limits"
    )
    parser.add_argument("--limits-repeats", type=int, default=3)
    parser.add_argument("--inline", action="store_true", help="read, prepare and commit in one process")
    parser.add_argument("--repeats", type=int, default=3, help="backlog drains; figures are the median's")
    parser.add_argument("--profile", metavar="FILE", help="drain under cProfile, stats to FILE")
    parser.add_argument(
        "--checkpoints",
        choices=["background", "auto"],
        default="background",
        help="WAL checkpoints as runfastpath does them (background thread) or SQLite's automatic ones",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary BLUEPLANE_HOME")
    args = parser.parse_args()
    if args.profile:
        args.inline = True
        args.repeats = 1
    if args.seed == TRAIN_SEED:
        print(f"warning: seed {TRAIN_SEED} is the dictionary's training seed; ratios will flatter")

    n = max(args.events, int(args.rate * args.seconds * 1.05)) if args.rate else args.events
    t0 = time.perf_counter()
    events = envelopes_generate(n, seed=args.seed)
    event_bytes = sum(map(len, events))
    print(
        f"generated {n} envelopes (seed {args.seed}), {event_bytes / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s"
    )

    home = Path(tempfile.mkdtemp(prefix="bpf-", dir="/tmp"))
    server = None
    try:
        django_start(home)
        from blueplane.redis_server import EmbeddedRedis

        server = EmbeddedRedis(home)
        baseline = db_files_bytes()
        mode = "rate" if args.rate else "backlog"
        fig: dict[str, Any] = {
            "mode": mode,
            "seed": args.seed,
            "train_seed": TRAIN_SEED,
            "checkpoints": args.checkpoints,
        }
        if args.rate:
            fig |= run_rate(args, events, baseline)
            stored = fig["events_handled"]
            event_bytes = sum(map(len, events[: fig["events_sent"]]))
        else:
            fig |= run_backlog(args, events, baseline)
            stored = n
        fig |= {"events": stored, "event_bytes": event_bytes, "event_bytes_avg": round(event_bytes / stored)}
        fig["profiled"] = bool(args.profile)
        fig |= store_report(stored, event_bytes, baseline)
        fig["limits"] = run_limits(args.limits_repeats) if args.with_limits else None
        fig["targets"] = targets_check(fig)
        fig["machine"] = {"nproc": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
        print_readable(fig)
        print(json.dumps(fig, separators=(",", ":")))
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {home}", file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
