"""A team server and developer machines, each a home of its own run as users run them: the server with
`blueplane up` (embedded Redis, SQLite), a machine either with `blueplane up` too or, lighter, with its
own database of the tests' Redis and the `manage.py` commands run one at a time."""

import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from tests.support.system import BLUEPLANE, Install

ROOT = Path(__file__).resolve().parents[2]
SHOW_EVENTS = """
import django, json
django.setup()
from collections import Counter
from telemetry.models import RAW_TRACE_MODELS
from telemetry.store.units import events_after
import orjson
seen = Counter()
for platform in RAW_TRACE_MODELS:
    after = 0
    while rows := events_after(platform=platform, after_seq=after, limit=5000):
        for seq, raw in rows:
            e = orjson.loads(raw)
            seen[(e.get("user_id"), e.get("machine_id"))] += 1
        after = rows[-1][0]
print(json.dumps([[u, m, n] for (u, m), n in sorted(seen.items(), key=str)]))
"""


def answers(url: str) -> bool:
    """Whether a web server answers at url (any HTTP status)."""
    try:
        urllib.request.urlopen(url + "/healthz", timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


def server_up(server: Install) -> None:
    """`blueplane up --detach` in the server's home, returning once its web server answers."""
    up = server.run("up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr + server.log_tail()
    server.wait_for(lambda: answers(server.url), what="the web server answering")


def token_for(server: Install, name: str, user: str) -> str:
    made = server.run("token", "create", name, "--json")
    assert made.returncode == 0, made.stderr
    db = sqlite3.connect(server.home / "telemetry.db", timeout=10)
    with db:
        db.execute('UPDATE api_tokens SET "user" = ? WHERE name = ?', (user, name))
    db.close()
    return orjson.loads(made.stdout)["token"]


def who_sent(server: Install) -> list[list]:
    """[user_id, machine_id, how many] of the server's stored events."""
    done = subprocess.run(
        [sys.executable, "-c", SHOW_EVENTS], env={**server.env, "DJANGO_SETTINGS_MODULE": "blueplane.settings"},
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout.strip().splitlines()[-1])


class Machine:
    """A developer machine without a supervisor: its home, its own Redis database, its commands."""

    def __init__(self, home: Path, redis_url: str) -> None:
        self.home, self.redis_url = home, redis_url
        home.mkdir(parents=True, exist_ok=True)
        (home / "capture.json").write_bytes(orjson.dumps({"redis": redis_url, "store_content": False}))

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "BLUEPLANE_HOME": str(self.home), "BLUEPLANE_REDIS_URL": self.redis_url,
               "CLAUDE_CONFIG_DIR": str(self.home / "claude"), "DJANGO_SETTINGS_MODULE": "blueplane.settings"}  # fmt: skip
        env.pop("BLUEPLANE_DATABASE_URL", None)
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BLUEPLANE), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args], env=self.env, cwd=ROOT, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip

    def hook(self, payload: dict) -> None:
        """One Claude Code hook call through the real hook script, as Claude Code runs it."""
        subprocess.run(
            [sys.executable, "-I", "-S", str(ROOT / "telemetry" / "capture" / "hook.py"), "claude-code"],
            input=orjson.dumps(payload), env={"BLUEPLANE_HOME": str(self.home), "PATH": os.environ["PATH"]},
            check=True, timeout=30,
        )  # fmt: skip
