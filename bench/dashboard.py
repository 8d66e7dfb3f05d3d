"""Benchmark of the web dashboard as shipped: `manage.py runweb` over a store of N events (default
1,000,000) loaded through the real pipeline by bench/api.py's loader, and real headless Chromium (Debian's
package, tests/support/browser.py's flags) on the same machine.

First paint of the overview: `--loads` page loads (default 20), each in a fresh browser context (nothing
cached, as a first visit) and again in one context (the static files cached, as a return visit). Per
load, from the Performance API: first-contentful-paint, and "KPIs drawn": the first animation frame after
DOMContentLoaded (the page's deferred scripts, which draw the figures the server embedded, run before
that event; the frame after it shows them), with how many [data-figure] elements then held a number.
P50/P95 of each. The overview is loaded twice over: at `/` (the default period, what `blueplane up`
opens) and at `/?period=all` (every one of the N events).

HTML request time: each dashboard page's HTML by urllib (server side: the view's queries and render, no
browser; the session page is that of the session with the most tool calls), `--loads` requests after one
warm-up, P50/P95; both the default period and `period=all`. Then, in this process against the same
database, each page's query count and its slowest query (Django's CaptureQueriesContext): what to look
at when a page is slow.

Target (issue 11): first paint of the overview <= 300 ms from the local server; no request over the API's
P95 targets (bench/api.py: 50 ms for a first page, 100 ms for a timeline).

`--home PATH` reuses a home bench/api.py or this benchmark loaded with `--keep` (loading is skipped);
`--keep` keeps a freshly loaded one. Never ~/.blueplane, never port 7531 (the system picks the port). The
last line printed is one JSON object with every figure.

usage: python bench/dashboard.py [--events 1000000] [--loads 20] [--keep] [--home PATH]
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import (  # noqa: E402
    FIRST_PAGE_MS,
    MARKER,
    TIMELINE_MS,
    data_span,
    django_start,
    run_teardown,
    sessions_pick,
    store_figures,
    store_load,
    web_start,
)
from bench.fastpath import pct  # noqa: E402

FIRST_PAINT_MS = 300.0

# Set up before any of the page's scripts: the first frame after DOMContentLoaded, by which the deferred
# scripts have drawn the embedded figures.
DRAWN_PROBE = """
window.__bpDrawn = null;
document.addEventListener("DOMContentLoaded", () => {
  requestAnimationFrame(() => { window.__bpDrawn = performance.now(); });
});
"""
# What the Performance API says of a load, once the frame after DOMContentLoaded has run.
LOAD_FIGURES = """() => {
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const nav = performance.getEntriesByType("navigation")[0];
  const filled = [...document.querySelectorAll("[data-figure]")].filter((e) => /\\d/.test(e.textContent)).length;
  return { fcp_ms: fcp ? fcp.startTime : null, drawn_ms: window.__bpDrawn,
           html_ms: nav ? nav.responseEnd - nav.requestStart : null,
           dcl_ms: nav ? nav.domContentLoadedEventEnd : null, figures_filled: filled };
}"""


def pages(session_id: str | None) -> dict[str, str]:
    """Page name -> path (without the period)."""
    out = {"overview": "/", "sessions": "/sessions/", "tools": "/tools/", "projects": "/projects/"}
    if session_id:
        out["session"] = f"/sessions/{session_id}/"
    out["pipeline"] = "/pipeline/"
    return out


def with_period(path: str, period: str | None) -> str:
    return f"{path}?period={period}&tz=UTC" if period else f"{path}?tz=UTC"


def summary(values: list[float]) -> dict[str, float | int]:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50), 1),
        "p95_ms": round(pct(values, 95), 1),
        "max_ms": round(max(values), 1) if values else float("nan"),
    }


# ---- server side ----------------------------------------------------------------------------------------


def html_times(url: str, paths: dict[str, str], loads: int) -> dict[str, Any]:
    """Each page's HTML request time over `loads` requests (after one warm-up), by urllib."""
    out: dict[str, Any] = {}
    for name, path in paths.items():
        times: list[float] = []
        status = None
        for i in range(loads + 1):
            t0 = time.perf_counter()
            with urllib.request.urlopen(url + path, timeout=60) as response:
                response.read()
                status = response.status
            if i:
                times.append((time.perf_counter() - t0) * 1000)
        out[name] = summary(times) | {"status": status}
    return out


def query_figures(paths: dict[str, str]) -> dict[str, Any]:
    """Each page's query count and slowest query, rendered in this process against the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    out: dict[str, Any] = {}
    for name, path in paths.items():
        client.get(path)  # warm: migrations checked, templates compiled
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            status = client.get(path).status_code
            elapsed = (time.perf_counter() - t0) * 1000
        slowest = max(captured.captured_queries, key=lambda q: float(q["time"]), default=None)
        out[name] = {
            "status": status,
            "queries": len(captured.captured_queries),
            "in_process_ms": round(elapsed, 1),
            "slowest_query_ms": round(float(slowest["time"]) * 1000, 1) if slowest else None,
            "slowest_query": slowest["sql"][:300] if slowest else None,
        }
    return out


# ---- in the browser ---------------------------------------------------------------------------------------


def first_paints(url: str, path: str, loads: int) -> dict[str, Any]:
    """`loads` loads of url+path, cold (a fresh context each) and warm (one context, reloaded)."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, FLAGS, LAPTOP

    if not CHROMIUM.exists():
        raise SystemExit(f"no headless Chromium at {CHROMIUM} (apt-get install chromium)")
    runs: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)

        def page_new() -> Any:
            context = browser.new_context(viewport=LAPTOP, timezone_id="UTC")
            context.add_init_script(DRAWN_PROBE)
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            return page

        try:
            warm = page_new()
            _page_load(warm, url + path)  # the server warms up, and this context's cache fills
            for _ in range(loads):
                page = page_new()
                runs["cold"].append(_page_load(page, url + path))
                page.context.close()
            for _ in range(loads):
                runs["warm"].append(_page_load(warm, url + path))
        finally:
            browser.close()
    out: dict[str, Any] = {"console_errors": errors[:5]}
    for kind, loaded in runs.items():
        out[kind] = {
            "fcp": summary([r["fcp_ms"] for r in loaded if r["fcp_ms"] is not None]),
            "kpis_drawn": summary([r["drawn_ms"] for r in loaded if r["drawn_ms"] is not None]),
            "html": summary([r["html_ms"] for r in loaded if r["html_ms"] is not None]),
            "figures_filled": min((r["figures_filled"] for r in loaded), default=0),
        }
    return out


def _page_load(page: Any, url: str) -> dict[str, Any]:
    page.goto(url, wait_until="load")
    page.wait_for_function("window.__bpDrawn !== null", timeout=30_000)
    page.wait_for_function(
        "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=30_000
    )
    return page.evaluate(LOAD_FIGURES)


# ---- the report -------------------------------------------------------------------------------------------


def targets_check(fig: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key in ("overview", "overview_all"):
        p95 = fig["first_paint"][key]["cold"]["kpis_drawn"]["p95_ms"]
        out[f"{key}_kpis_drawn_cold_p95_ms"] = {"target": f"<= {FIRST_PAINT_MS}", "ok": p95 <= FIRST_PAINT_MS}
    for period, times in fig["html"].items():
        for name, t in times.items():
            bound = TIMELINE_MS if name == "session" else FIRST_PAGE_MS
            out[f"html_{name}_{period}_p95_ms"] = {"target": f"<= {bound}", "ok": t["p95_ms"] <= bound}
    return out


def print_readable(fig: dict[str, Any]) -> None:
    store = fig["store"]
    print(
        f"store: {fig['events']:,} events, {store['db_bytes'] / 1e6:.0f} MB, {store['sessions']:,} sessions, "
        f"{store['turns']:,} turns, {store['tool_calls']:,} tool calls; data {fig['span'][0]}..{fig['span'][1]}"
    )
    for key, paints in fig["first_paint"].items():
        for kind in ("cold", "warm"):
            p = paints[kind]
            print(
                f"first paint {key:<12} {kind}: FCP p50 {p['fcp']['p50_ms']} ms p95 {p['fcp']['p95_ms']} ms; "
                f"KPIs drawn p50 {p['kpis_drawn']['p50_ms']} ms p95 {p['kpis_drawn']['p95_ms']} ms; "
                f"HTML p50 {p['html']['p50_ms']} ms ({p['figures_filled']} figures with a number)"
            )
        if paints["console_errors"]:
            print(f"  console errors: {paints['console_errors']}")
    for period, times in fig["html"].items():
        print(f"HTML request time, {period} ({fig['loads']} requests each, urllib):")
        for name, t in times.items():
            q = fig["queries"][period][name]
            print(
                f"  {name:<10} p50 {t['p50_ms']:>7} ms  p95 {t['p95_ms']:>7} ms  max {t['max_ms']:>7} ms  "
                f"[{t['status']}] {q['queries']} queries, slowest {q['slowest_query_ms']} ms"
            )
    for name, t in fig["targets"].items():
        print(f"target {name} {t['target']}: {'ok' if t['ok'] else 'MISSED'}")
    print(f"load average at the start {fig['loadavg_start']}, at the end {fig['machine']['loadavg']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events to load")
    parser.add_argument("--loads", type=int, default=20, help="page loads (and requests) per measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary BLUEPLANE_HOME")
    parser.add_argument("--home", type=Path, help="a home bench/api.py or this loaded: skip loading")
    args = parser.parse_args()

    if args.home is not None:
        home = args.home.resolve()
        if not (home / MARKER).exists():
            raise SystemExit(f"{home} is not a home bench/api.py loaded (no {MARKER} file)")
    else:
        home = Path(tempfile.mkdtemp(prefix="bp-dash-", dir="/tmp"))
    # The machine is shared: the load before and after says how much the figures were disturbed.
    fig: dict[str, Any] = {"loads": args.loads, "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    web = None
    redis_server = None
    try:
        django_start(home)
        import redis

        from blueplane.redis_server import EmbeddedRedis

        redis_server = EmbeddedRedis(home)
        if args.home is None:
            client = redis.Redis(unix_socket_path=str(redis_server.socket_path))
            print(f"loading {args.events:,} events through runfastpath and a Celery worker ...", flush=True)
            fig |= {"events": args.events} | store_load(client, args.events, home)
            (home / MARKER).write_text(json.dumps({"events": args.events}))
        else:
            fig["events"] = json.loads((home / MARKER).read_text())["events"]
        fig["store"] = store_figures()
        fig["span"] = list(data_span())
        [session] = sessions_pick(1) or [None]
        paths = pages(session)
        by_period = {
            period or "default": {name: with_period(path, period) for name, path in paths.items()}
            for period in (None, "all")
        }
        fig["queries"] = {period: query_figures(p) for period, p in by_period.items()}
        from django.db import connections

        connections.close_all()  # the web server reads; this process holds nothing open meanwhile
        web, url = web_start(home)
        fig["html"] = {period: html_times(url, p, args.loads) for period, p in by_period.items()}
        fig["first_paint"] = {
            "overview": first_paints(url, "/", args.loads),
            "overview_all": first_paints(url, "/?period=all", args.loads),
        }
        fig["targets"] = targets_check(fig)
        fig["machine"] = {"nproc": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
        print_readable(fig)
        print(json.dumps(fig, separators=(",", ":")))
    finally:
        run_teardown(web=web, redis_server=redis_server, home=home, keep=args.keep or args.home is not None)


if __name__ == "__main__":
    main()
