"""Benchmark of a team server's scale-out: several `runfastpath` consumers and Celery workers (processes
standing in for hosts) on one Redis stream and one database, on SQLite and on PostgreSQL side by side.

Fast path: k consumers (1, 2, 4) with no worker running; N envelopes (bench/events.py) XADDed as fast as
possible; measured from the first XADD until every event is stored ("events/s").
Derived: 2 consumers and w workers (2, 4; `celery worker --pool=solo` each); measured from the first
XADD until every session's watermark has reached its newest raw event ("derived events/s", as in
bench/slowpath.py).
Each measurement has a fresh database (a copy of one migrated once) and an emptied Redis, and the same
events; processes are started and waiting for work before the clock starts.

PostgreSQL: a throwaway database on BLUEPLANE_BENCH_POSTGRES_URL's server (default: a local server as
user postgres), skipped with a note when there is none. With --forwarding, bench/forwarding.py (another
benchmark, of developer machines forwarding to the team server) is run too, if it exists, and its
figures (the last line of its output, one JSON object) are merged under "forwarding".

The last line printed is one JSON object with every figure. No figure is asserted.

usage: python bench/team.py [-n 20000] [--no-postgres] [--forwarding] [--keep]
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.events import envelopes_generate  # noqa: E402
from bench.fastpath import stream_prefill  # noqa: E402

CONSUMERS = (1, 2, 4)
WORKERS = (2, 4)
DERIVED_CONSUMERS = 2
POSTGRES_URL = os.environ.get("BLUEPLANE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RAW_TABLES = ("claude_raw_traces", "cursor_raw_traces")
FORWARDING = ROOT / "bench" / "forwarding.py"


class Backend:
    """A database engine: a migrated template, copied for each measurement."""

    name = ""

    def __init__(self, home: Path) -> None:
        self.home = home

    def template_url(self) -> str:
        raise NotImplementedError

    def copy(self) -> str:
        raise NotImplementedError

    def drop(self, url: str) -> None:
        raise NotImplementedError

    def connect(self, url: str) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SQLite(Backend):
    name = "sqlite"

    def template_url(self) -> str:
        return f"sqlite:///{self.home / 'template.sqlite3'}"

    def copy(self) -> str:
        path = self.home / f"db-{uuid.uuid4().hex[:8]}.sqlite3"
        with sqlite3.connect(self.home / "template.sqlite3") as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        return f"sqlite:///{path}"

    def drop(self, url: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)

    def connect(self, url: str) -> Any:
        return sqlite3.connect(url.removeprefix("sqlite:///"), timeout=60, isolation_level=None)


class PostgreSQL(Backend):
    name = "postgresql"

    def __init__(self, home: Path) -> None:
        import psycopg

        super().__init__(home)
        self.admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
        self.template = f"bp_bench_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{self.template}"')
        self.made = [self.template]

    def _url(self, name: str) -> str:
        return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"

    def template_url(self) -> str:
        return self._url(self.template)

    def copy(self) -> str:
        name = f"bp_bench_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.made.remove(name)

    def connect(self, url: str) -> Any:
        import psycopg

        return psycopg.connect(url, autocommit=True)

    def close(self) -> None:
        for name in list(self.made):
            self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.close()


def env_for(home: Path, url: str) -> dict[str, str]:
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_DATABASE_URL": url,
           "BLUEPLANE_LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "blueplane.settings"}  # fmt: skip
    env.pop("BLUEPLANE_REDIS_URL", None)  # the home's embedded Redis
    return env


def migrate(home: Path, url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env_for(home, url), check=True,
        capture_output=True, timeout=600,
    )  # fmt: skip


def processes_start(home: Path, url: str, *, consumers: int, workers: int) -> list[subprocess.Popen]:
    env = env_for(home, url)
    log = open(home / "processes.log", "a")  # noqa: SIM115 (lives as long as the processes)
    procs = [
        subprocess.Popen([sys.executable, "manage.py", "runfastpath", "--consumer", f"c{i}"],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for i in range(consumers)
    ]  # fmt: skip
    procs += [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "blueplane", "worker", "--pool=solo",
                          "-n", f"w{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                          "-l", "WARNING"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        for i in range(workers)
    ]  # fmt: skip
    log.close()
    return procs


def processes_stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait(cond, what: str, timeout_s: float) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.02)
    return time.perf_counter()


def ready(client: Any, consumers: int, workers: int) -> bool:
    """The processes wait for work: blocked in XREADGROUP (consumers) or kombu's BRPOP (workers)."""
    cmds = [c["cmd"] for c in client.client_list()]
    return cmds.count("xreadgroup") >= consumers and cmds.count("brpop") >= workers


def raw_count(conn: Any) -> int:
    return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in RAW_TABLES)


def caught_up(conn: Any) -> bool:
    """Every session with raw events has its watermark at its newest one (compared per session count and
    by the sum of the newest seqs, so no session key needs computing here)."""
    newest = {}
    for platform, table in zip(("claude_code", "cursor"), RAW_TABLES, strict=True):
        for key, seq in conn.execute(f"SELECT session_key, MAX(seq) FROM {table} GROUP BY 1").fetchall():
            newest[(platform, key)] = seq
    done = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(processed_seq), 0) FROM session_progress WHERE processed_seq > 0"
    ).fetchone()
    return bool(newest) and done[0] >= len(newest) and done[1] >= sum(newest.values())


def measure(
    backend: Backend, client: Any, events: list[bytes], distinct: int, *, consumers: int, workers: int
) -> dict[str, Any]:
    url = backend.copy()
    client.flushdb()
    procs = processes_start(backend.home, url, consumers=consumers, workers=workers)
    conn = backend.connect(url)
    try:
        wait(lambda: ready(client, consumers, workers), "the processes to start (see processes.log)", 180)
        t0 = time.perf_counter()
        stream_prefill(client, events)
        t_stored = wait(lambda: raw_count(conn) >= distinct, "every event stored", 600)
        out = {"stored_s": round(t_stored - t0, 3), "events_per_s": round(len(events) / (t_stored - t0))}
        if workers:
            t_done = wait(lambda: caught_up(conn), "the slow path", 600)
            out |= {
                "derived_s": round(t_done - t0, 3),
                "derived_events_per_s": round(len(events) / (t_done - t0)),
            }
        return out
    finally:
        conn.close()
        processes_stop(procs)
        backend.drop(url)


def run_backend(backend: Backend, client: Any, events: list[bytes], distinct: int) -> dict[str, Any]:
    migrate(backend.home, backend.template_url())
    fig: dict[str, Any] = {"fastpath": {}, "derived": {}}
    for k in CONSUMERS:
        fig["fastpath"][str(k)] = measure(backend, client, events, distinct, consumers=k, workers=0)
        print(f"  {backend.name}: {k} consumer(s): {fig['fastpath'][str(k)]}", flush=True)
    for w in WORKERS:
        fig["derived"][str(w)] = measure(
            backend, client, events, distinct, consumers=DERIVED_CONSUMERS, workers=w
        )
        print(f"  {backend.name}: {w} workers: {fig['derived'][str(w)]}", flush=True)
    return fig


def forwarding_run(extra: list[str]) -> dict[str, Any] | None:
    """bench/forwarding.py's figures (its last line), or None when that benchmark does not exist yet."""
    if not FORWARDING.exists():
        print("forwarding: bench/forwarding.py does not exist: skipped")
        return None
    done = subprocess.run([sys.executable, str(FORWARDING), *extra], cwd=ROOT, capture_output=True, text=True)
    print(done.stdout, end="")
    if done.returncode != 0:
        print(f"forwarding: bench/forwarding.py failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        return {"error": done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table_print(fig: dict[str, Any]) -> None:
    names = [b for b in ("sqlite", "postgresql") if b in fig["backends"]]
    print(f"\n{fig['n_events']} events; events/s, from the first XADD (higher is better)")
    print(f"{'':28}" + "".join(f"{n:>14}" for n in names))

    def cell(backend: str, section: str, key: str, field: str) -> str:
        got = fig["backends"][backend]
        if "skipped" in got:
            return f"{'skipped':>14}"
        return f"{got[section][key][field]:>14}"

    for k in CONSUMERS:
        label = f"stored, {k} consumer{'s' if k > 1 else ''}"
        print(f"{label:28}" + "".join(cell(n, "fastpath", str(k), "events_per_s") for n in names))
    for w in WORKERS:
        label = f"derived, {DERIVED_CONSUMERS} cons. + {w} workers"
        print(f"{label:28}" + "".join(cell(n, "derived", str(w), "derived_events_per_s") for n in names))
    for n in names:
        if "skipped" in fig["backends"][n]:
            print(f"{n}: skipped: {fig['backends'][n]['skipped']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000, help="events per measurement")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--forwarding", action="store_true", help="run bench/forwarding.py too, if it exists")
    parser.add_argument("--forwarding-args", default="", help="arguments for bench/forwarding.py")
    parser.add_argument("--keep", action="store_true", help="keep the temporary BLUEPLANE_HOME")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bp-team-"))
    os.environ["BLUEPLANE_HOME"] = str(home)
    import redis

    from blueplane.redis_server import EmbeddedRedis

    server = EmbeddedRedis(home)
    server.start()
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    events = envelopes_generate(args.n, seed=11)
    distinct = len({json.loads(e)["event_id"] for e in events})
    fig: dict[str, Any] = {"n_events": args.n, "consumers": list(CONSUMERS), "workers": list(WORKERS),
                           "derived_consumers": DERIVED_CONSUMERS, "backends": {}}  # fmt: skip
    try:
        kinds = ([] if args.no_sqlite else [SQLite]) + ([] if args.no_postgres else [PostgreSQL])
        for kind in kinds:
            try:
                backend = kind(home)
            except Exception as exc:  # no PostgreSQL server: a note, not a failure
                fig["backends"][kind.name] = {"skipped": f"{type(exc).__name__}: {str(exc).strip()[:200]}"}
                continue
            try:
                fig["backends"][kind.name] = run_backend(backend, client, events, distinct)
            finally:
                backend.close()
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    if args.forwarding:
        fig["forwarding"] = forwarding_run(args.forwarding_args.split())
    table_print(fig)
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
