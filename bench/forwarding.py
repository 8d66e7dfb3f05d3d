"""Forwarding throughput: events/s a connected machine posts to a local team server (docs/team.md).

    .venv/bin/python bench/forwarding.py [--events N] [--level counts|metadata|content] [--redis-url URL]

Two homes in a temp dir, each with its SQLite store: the machine's holds N Claude Code hook events
(queued on its own Redis database, stored by `runfastpath --once`); the server is `manage.py runweb`
on a free port over another Redis database (its ingest queues them; storing is the fast path's cost,
measured by bench/fastpath.py). The machine connects with a token and `Forwarder.pass_once` runs until
nothing is left, timed in a process of its own: reading the store, leveling, posting batches of
1,000, moving the cursor. Prints figures; the last line is one JSON object.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import redis  # noqa: E402

from tests.support.web import LISTENING  # noqa: E402

TIMED = """
import django, json, sys, time
django.setup()
from django.conf import settings
from telemetry.forward.forwarder import Forwarder
from telemetry.forward.team import team_read
team = team_read(settings.BLUEPLANE_HOME)
forwarder = Forwarder(settings.BLUEPLANE_HOME)
start = time.perf_counter()
total = 0
while sent := forwarder.pass_once(team):
    total += sent
print(json.dumps({"events": total, "seconds": time.perf_counter() - start}))
"""


def env_of(home: Path, redis_url: str) -> dict[str, str]:
    env = {**os.environ, "BLUEPLANE_HOME": str(home), "BLUEPLANE_REDIS_URL": redis_url,
           "DJANGO_SETTINGS_MODULE": "blueplane.settings", "CLAUDE_CONFIG_DIR": str(home / "claude")}  # fmt: skip
    env.pop("BLUEPLANE_DATABASE_URL", None)
    return env


def manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900, check=False)  # fmt: skip
    if done.returncode:
        sys.exit(f"manage.py {args[0]} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def events(n: int) -> list[bytes]:
    start = datetime.now(UTC) - timedelta(days=7)
    return [
        orjson.dumps(
            {
                "event_id": f"bench:{uuid.uuid4()}",
                "platform": "claude_code",
                "source": "hook",
                "event_type": "PostToolUse",
                "hook_type": "PostToolUse",
                "session_id": f"bench-{i % 100}",
                "timestamp": (start + timedelta(seconds=i)).isoformat(),
                "payload": {
                    "hook_event_name": "PostToolUse",
                    "tool_name": "Bash",
                    "session_id": f"bench-{i % 100}",
                    "cwd": "path:0123456789abcdef",
                    "tool_input": {"chars": 40, "lines": 1, "hash": "ab" * 8},
                    "tool_response": {"bytes": 300, "items": 3, "hash": "cd" * 8},
                },
                "metadata": {"capture_ts": i, "project": {"hash": "ef" * 8, "name": "app"}},
            }
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--level", default="metadata", choices=["counts", "metadata", "content"])
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379", help="a Redis; databases 14 and 15 are used"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bp-bench-fwd-"))
    machine_url, server_url = f"{args.redis_url}/14", f"{args.redis_url}/15"
    for url in (machine_url, server_url):
        redis.Redis.from_url(url).flushdb()
    machine, server = env_of(tmp / "machine", machine_url), env_of(tmp / "server", server_url)
    for env in (machine, server):
        Path(env["BLUEPLANE_HOME"]).mkdir()
        manage(env, "migrate", "-v", "0")

    client = redis.Redis.from_url(machine_url)
    pipe = client.pipeline(transaction=False)
    for raw in events(args.events):
        pipe.xadd("telemetry:events", {"event": raw})
    pipe.execute()
    manage(machine, "runfastpath", "--once")

    token = subprocess.run([str(Path(sys.executable).parent / "blueplane"), "token", "create", "bench", "--json"],
                           env=server, capture_output=True, text=True, check=True).stdout  # fmt: skip
    token = json.loads(token)["token"]
    log = tmp / "web.log"
    with log.open("wb") as out:
        web = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runweb", "--port", "0"], env=server,
                               cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = None
        while url is None:
            time.sleep(0.2)
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith(LISTENING):
                    url = line.removeprefix(LISTENING).strip()
            if web.poll() is not None:
                sys.exit(f"runweb exited: {log.read_text()[-500:]}")
        connected = subprocess.run(
            [str(Path(sys.executable).parent / "blueplane"), "connect", url, "--token", token, "--level", args.level],
            env=machine, capture_output=True, text=True,
        )  # fmt: skip
        if connected.returncode:
            sys.exit(connected.stderr)
        done = subprocess.run(
            [sys.executable, "-c", TIMED], env=machine, cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(done.stderr[-1000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        queued = redis.Redis.from_url(server_url).xlen("telemetry:events")
    finally:
        web.terminate()
        web.wait(timeout=30)
        for url_ in (machine_url, server_url):
            redis.Redis.from_url(url_).flushdb()
    rate = result["events"] / result["seconds"] if result["seconds"] else 0.0
    print(f"events stored on the machine  {args.events:,}")
    print(
        f"forwarded                     {result['events']:,} in {result['seconds']:.2f} s ({rate:,.0f} events/s)"
    )
    print(f"queued on the server          {queued:,} (level {args.level})")
    print(json.dumps({"bench": "forwarding", "events": result["events"], "seconds": round(result["seconds"], 3),
                      "events_per_s": round(rate), "level": args.level, "queued": queued}))  # fmt: skip


if __name__ == "__main__":
    main()
