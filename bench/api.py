"""Benchmark of the REST API as shipped: `manage.py runweb` (uvicorn, one ASGI process) over a store of
N events (default 1,000,000) loaded through the real pipeline, in a fresh BLUEPLANE_HOME under /tmp.

Load: envelopes from bench/events.py (chunks of 50,000, one seed each) are XADDed while real
`runfastpath` and `celery worker --concurrency 2` processes store and derive them, as `blueplane up` does;
the next chunk waits until the fast path is at most one chunk behind, so Redis holds a bounded backlog.
Loading ends when every session's watermark has reached its newest raw event.

Latency: a second process runs `--clients` threads (default 8), each with its own keep-alive
connection, cycling through the main endpoints in its own shuffled order for `--rounds` rounds (after
one unmeasured warm-up round); one client alone first, for each endpoint's own time. The endpoints: the sessions list's first page, a session's detail and its timeline's
first page (a different session per client: half the newest, half the largest), usage by day and tool
performance over the whole span of the data, and /healthz. P50/P95/P99 per endpoint.

Ingest: one client POSTs `--ingest-events` new envelopes (default 50,000) in batches of 100 to
/api/v1/events, each request after the previous one's answer; events/s until the last batch is queued.
The fast path runs meanwhile; the figures say how far behind it was when the last batch was queued and
when it had stored them all.

`--keep` keeps the home; `--home PATH` reuses a home a previous `--keep` run loaded (loading is skipped),
to measure the API again without loading again. Never ~/.blueplane, never port 7531 (the port is the
system's choice). The last line printed is one JSON object with every figure.

usage: python bench/api.py [--events 1000000] [--clients 8] [--rounds 50] [--ingest-events 50000]
                           [--keep] [--home PATH]
"""

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import envelopes_generate  # noqa: E402
from bench.fastpath import pct  # noqa: E402

CHUNK = 50_000
INGEST_BATCH = 100
MARKER = "bench-api-home"  # a home this benchmark made: the only kind --home accepts
TIMELINE_MS = 100.0
FIRST_PAGE_MS = 50.0
INGEST_PER_S = 5_000
LISTENING = "web: listening on "


# ---- the store ------------------------------------------------------------------------------------


def django_start(home: Path) -> None:
    """Point this process at home (before Django reads settings), migrate, start the embedded Redis."""
    from bench.fastpath import django_start as start

    start(home)


def backlog_wait(sent: int, behind: int, timeout_s: float = 1800) -> None:
    from bench.slowpath import raw_count, wait

    wait(lambda: raw_count() >= sent - behind, f"the fast path to store {sent - behind} events", timeout_s)


def store_load(client: Any, n: int, home: Path) -> dict[str, Any]:
    """n events through runfastpath and a Celery worker; returns the load's figures."""
    from bench.fastpath import stream_prefill
    from bench.slowpath import caught_up, processes_start, processes_stop, raw_count, wait

    procs = processes_start(home, 2)
    t0 = time.perf_counter()
    generate_s = 0.0
    sent = 0
    try:
        for seed in range(1, n // CHUNK + 2):
            size = min(CHUNK, n - sent)
            if size <= 0:
                break
            tg = time.perf_counter()
            events = envelopes_generate(size, seed=seed)
            generate_s += time.perf_counter() - tg
            backlog_wait(sent, CHUNK)
            stream_prefill(client, events)
            sent += size
            print(f"  sent {sent:,} events after {time.perf_counter() - t0:.0f} s", flush=True)
        t_sent = time.perf_counter()
        wait(lambda: raw_count() >= n, "the fast path", 1800)
        t_stored = time.perf_counter()
        wait(lambda: caught_up(n), "the slow path", 3600)
        t_derived = time.perf_counter()
    finally:
        processes_stop(procs)
    return {
        "load_generate_s": round(generate_s, 1),
        "load_sent_s": round(t_sent - t0, 1),
        "load_stored_s": round(t_stored - t0, 1),
        "load_derived_s": round(t_derived - t0, 1),
    }


def store_figures() -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    from telemetry.models import Session, ToolCall, Turn

    with connection.cursor() as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(settings.DATABASES["default"]["NAME"])
    return {
        "db_bytes": path.stat().st_size,
        "sessions": Session.objects.count(),
        "turns": Turn.objects.count(),
        "tool_calls": ToolCall.objects.count(),
    }


def sessions_pick(k: int) -> list[str]:
    """k sessions to read (their session ids, as the API names them): half the newest, half those with
    the most tool calls."""
    from telemetry.models import Session

    newest = list(
        Session.objects.order_by("-started_at", "-id").values_list("session_id", flat=True)[: k // 2]
    )
    largest = Session.objects.exclude(session_id__in=newest).order_by("-tool_calls", "-id")
    return newest + list(largest.values_list("session_id", flat=True)[: k - len(newest)])


def data_span() -> tuple[str, str]:
    """The first and last day with data (UTC): reports asked for the whole span, not an empty month."""
    from django.db.models import Max, Min

    from telemetry.models import Session

    span = Session.objects.aggregate(first=Min("started_at"), last=Max("last_event_at"))
    return span["first"].date().isoformat(), span["last"].date().isoformat()


# ---- the web server ---------------------------------------------------------------------------------


def web_start(home: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_LOG_LEVEL": "WARNING"}
    for name in ("BLUEPLANE_DATABASE_URL", "BLUEPLANE_REDIS_URL"):
        env.pop(name, None)
    log = home / "web.log"
    with log.open("wb") as out:  # a kept home's log says where the last run listened
        web = subprocess.Popen(
            [sys.executable, "manage.py", "runweb", "--port", "0"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith(LISTENING):
                return web, line.removeprefix(LISTENING).strip()
        if web.poll() is not None:
            break
        time.sleep(0.1)
    web.kill()
    raise SystemExit(f"runweb did not start: {log.read_text()}")


def web_stop(web: subprocess.Popen) -> None:
    web.terminate()
    try:
        web.wait(timeout=30)
    except subprocess.TimeoutExpired:
        web.kill()


def endpoints(sessions: list[str], since: str, until: str) -> dict[str, list[str]]:
    """Endpoint name -> the paths the clients request for it (client i takes path i % len)."""
    span = urlencode({"since": since, "until": until})
    return {
        "sessions_first_page": ["/api/v1/sessions/"],
        "session_detail": [f"/api/v1/sessions/{s}/" for s in sessions],
        "session_timeline": [f"/api/v1/sessions/{s}/timeline/" for s in sessions],
        "usage_daily": [f"/api/v1/usage/?group=day&{span}"],
        "tools": [f"/api/v1/tools/?{span}"],
        "healthz": ["/healthz"],
    }


TARGET_MS = {"session_timeline": TIMELINE_MS}  # the others: FIRST_PAGE_MS


# ---- the client process (python bench/api.py --client PLAN) ------------------------------------------


def client_run(plan: dict[str, Any]) -> dict[str, Any]:
    """Latency mode: plan has url, endpoints, clients, rounds. Ingest mode: url, ingest_events, seed."""
    if "ingest_events" in plan:
        return ingest_run(plan)
    url = urlsplit(plan["url"])
    names = list(plan["endpoints"])
    timings: dict[str, list[float]] = {name: [] for name in names}
    errors: dict[str, list[str]] = {name: [] for name in names}
    lock = threading.Lock()
    start = threading.Barrier(plan["clients"])

    def client(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

        def get(name: str) -> float:
            paths = plan["endpoints"][name]
            t0 = time.perf_counter()
            conn.request("GET", paths[i % len(paths)])
            answer = conn.getresponse()
            body = answer.read()
            elapsed = time.perf_counter() - t0
            if answer.status != 200 and not (name == "healthz" and answer.status == 503):
                with lock:
                    errors[name].append(f"{answer.status} {paths[i % len(paths)]}: {body[:200]!r}")
            return elapsed

        for name in names:  # warm-up: connections open, code paths and caches warm
            get(name)
        start.wait()
        for _ in range(plan["rounds"]):
            order = names[:]
            rng.shuffle(order)
            for name in order:
                elapsed = get(name)
                with lock:
                    timings[name].append(elapsed * 1000)
        conn.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(plan["clients"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"wall_s": round(wall, 2), "requests": sum(map(len, timings.values()))}
    for name in names:
        ms = timings[name]
        out[name] = {
            "n": len(ms),
            "p50_ms": round(pct(ms, 50), 1),
            "p95_ms": round(pct(ms, 95), 1),
            "p99_ms": round(pct(ms, 99), 1),
            "max_ms": round(max(ms), 1) if ms else None,
            "errors": len(errors[name]),
            "first_error": errors[name][0] if errors[name] else None,
        }
    return out


def ingest_run(plan: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(plan["url"])
    events = envelopes_generate(plan["ingest_events"], seed=plan["seed"])
    bodies = [
        b"[" + b",".join(events[i : i + INGEST_BATCH]) + b"]" for i in range(0, len(events), INGEST_BATCH)
    ]
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    latencies = []
    refused = []
    accepted = 0
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        t = time.perf_counter()
        conn.request("POST", "/api/v1/events", body=body, headers=headers)
        answer = conn.getresponse()
        text = answer.read()
        latencies.append((time.perf_counter() - t) * 1000)
        if answer.status == 202:
            accepted += len(events[i * INGEST_BATCH : (i + 1) * INGEST_BATCH])
        else:
            refused.append(f"{answer.status}: {text[:300]!r}")
    wall = time.perf_counter() - t0
    conn.close()
    return {
        "ingest_events": len(events),
        "ingest_s": round(wall, 3),
        "ingest_events_per_s": round(len(events) / wall),
        "ingest_request_p50_ms": round(pct(latencies, 50), 1),
        "ingest_request_p95_ms": round(pct(latencies, 95), 1),
        "ingest_accepted": accepted,
        "ingest_refused": len(refused),
        "ingest_first_refusal": refused[0] if refused else None,
        "ingest_done_at": time.time(),
    }


def client_process(plan: dict[str, Any]) -> dict[str, Any]:
    """Run the plan in a second process (its own interpreter and GIL, as a real client would be)."""
    done = subprocess.run(
        [sys.executable, __file__, "--client", json.dumps(plan)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the client process failed: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- main -------------------------------------------------------------------------------------------


def ingest_measure(url: str, home: Path, n: int) -> dict[str, Any]:
    """Ingest through POST /api/v1/events with the fast path running; how far behind it was."""
    from bench.slowpath import processes_start, processes_stop, raw_count, wait

    before = raw_count()
    procs = processes_start(home, 2)
    try:
        # A seed of this store's size: events none of its earlier runs sent (they would be stored once).
        fig = client_process({"url": url, "ingest_events": n, "seed": 10_000 + before})
        done_at = fig.pop("ingest_done_at")
        behind = before + fig["ingest_accepted"] - raw_count()
        wait(lambda: raw_count() >= before + fig["ingest_accepted"], "the fast path after ingest", 600)
        fig["fastpath_behind_at_last_batch"] = behind
        fig["fastpath_stored_all_after_s"] = round(max(0.0, time.time() - done_at), 2)
    finally:
        processes_stop(procs)
    return fig


def targets_check(fig: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, figures in fig["latency"].items():
        if isinstance(figures, dict):
            bound = TARGET_MS.get(name, FIRST_PAGE_MS)
            out[f"{name}_p95_ms"] = {"target": f"<= {bound}", "ok": figures["p95_ms"] <= bound}
    if "ingest_events_per_s" in fig:
        out["ingest_events_per_s"] = {
            "target": f">= {INGEST_PER_S}",
            "ok": fig["ingest_events_per_s"] >= INGEST_PER_S,
        }
    return out


def print_readable(fig: dict[str, Any]) -> None:
    if "load_derived_s" in fig:
        print(
            f"load: {fig['events']:,} events generated in {fig['load_generate_s']} s, sent by {fig['load_sent_s']} s, "
            f"stored by {fig['load_stored_s']} s, derived by {fig['load_derived_s']} s"
        )
    store = fig["store"]
    print(
        f"store: {store['db_bytes'] / 1e6:.0f} MB, {store['sessions']:,} sessions, {store['turns']:,} turns, "
        f"{store['tool_calls']:,} tool calls"
    )
    for key, clients in (("alone", 1), ("latency", fig["clients"])):
        lat = fig[key]
        print(
            f"latency, {clients} client(s) x {fig['rounds']} rounds: {lat['requests']} requests in {lat['wall_s']} s"
        )
        for name, f in lat.items():
            if isinstance(f, dict):
                errors = f" ({f['errors']} errors, first: {f['first_error']})" if f["errors"] else ""
                print(
                    f"  {name:<20} p50 {f['p50_ms']:>6} ms  p95 {f['p95_ms']:>6} ms  p99 {f['p99_ms']:>6} ms  "
                    f"max {f['max_ms']:>6} ms{errors}"
                )
    if "ingest_events_per_s" in fig:
        refused = (
            f", {fig['ingest_refused']} refused ({fig['ingest_first_refusal']})"
            if fig["ingest_refused"]
            else ""
        )
        print(
            f"ingest: {fig['ingest_events']:,} events in batches of {INGEST_BATCH} in {fig['ingest_s']} s = "
            f"{fig['ingest_events_per_s']:,} events/s (request p50 {fig['ingest_request_p50_ms']} ms, "
            f"p95 {fig['ingest_request_p95_ms']} ms){refused}; the fast path was "
            f"{fig['fastpath_behind_at_last_batch']:,} events behind at the last batch and had stored all "
            f"{fig['fastpath_stored_all_after_s']} s later"
        )
    for name, t in fig["targets"].items():
        print(f"target {name} {t['target']}: {'ok' if t['ok'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the latency run")
    parser.add_argument("--rounds", type=int, default=50, help="requests per client per endpoint")
    parser.add_argument("--ingest-events", type=int, default=50_000, help="events to POST (0: skip)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary BLUEPLANE_HOME")
    parser.add_argument("--home", type=Path, help="a home a previous --keep run loaded: skip loading")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # the second process's plan (JSON)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(client_run(json.loads(args.client))))
        return

    if args.home is not None:
        home = args.home.resolve()
        if not (home / MARKER).exists():
            raise SystemExit(f"{home} is not a home this benchmark loaded (no {MARKER} file)")
    else:
        home = Path(tempfile.mkdtemp(prefix="bp-api-", dir="/tmp"))
    fig: dict[str, Any] = {"clients": args.clients, "rounds": args.rounds}
    web = None
    redis_server = None
    try:
        django_start(home)
        import redis

        from blueplane.redis_server import EmbeddedRedis

        redis_server = EmbeddedRedis(home)
        client = redis.Redis(unix_socket_path=str(redis_server.socket_path))
        if args.home is None:
            print(f"loading {args.events:,} events through runfastpath and a Celery worker ...", flush=True)
            fig |= {"events": args.events} | store_load(client, args.events, home)
            (home / MARKER).write_text(json.dumps({"events": args.events}))
        else:
            fig["events"] = json.loads((home / MARKER).read_text())["events"]
        fig["store"] = store_figures()
        since, until = data_span()
        sessions = sessions_pick(args.clients)
        from django.db import connections

        connections.close_all()  # the web server reads; this process holds nothing open meanwhile
        web, url = web_start(home)
        plan = {
            "url": url,
            "endpoints": endpoints(sessions, since, until),
            "clients": args.clients,
            "rounds": args.rounds,
        }
        fig["span"] = [since, until]
        # One client first: each endpoint's own time, without waiting behind the others'.
        fig["alone"] = client_process(plan | {"clients": 1})
        fig["latency"] = client_process(plan)
        if args.ingest_events:
            fig |= ingest_measure(url, home, args.ingest_events)
        fig["targets"] = targets_check(fig)
        fig["machine"] = {"nproc": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
        print_readable(fig)
        print(json.dumps(fig, separators=(",", ":")))
    finally:
        run_teardown(web=web, redis_server=redis_server, home=home, keep=args.keep or args.home is not None)


def run_teardown(*, web, redis_server, home: Path, keep: bool) -> None:
    """Stop what a run started (the web server, Django's connections, the embedded Redis) and remove
    its home unless it is to be kept."""
    if web is not None:
        web_stop(web)
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()
    if redis_server is not None:
        redis_server.stop()
    if keep:
        print(f"kept {home}", file=sys.stderr)
    else:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
