"""Shared helpers for the capture tests: the fixture corpus, a capture home, draining the fast path."""

import json
import shutil
from pathlib import Path

from django.conf import settings

from telemetry.ingest.consumer import StreamConsumer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "claude-real"
PROJECTS = FIXTURES / "projects"
HOOKS = FIXTURES / "hooks.jsonl"


def hook_calls() -> list[tuple[bytes, int]]:
    """(stdin bytes, capture time in ns) of every recorded hook call."""
    calls = []
    for line in HOOKS.read_text().splitlines():
        call = json.loads(line)
        calls.append((json.dumps(call["payload"]).encode(), int(call["ts"] * 1e9)))
    return calls


def capture_home(path: Path, *, redis_url: str | None = None, store_content: bool = False) -> Path:
    """A BLUEPLANE_HOME for hooks, with capture.json pointing at the test Redis (or nowhere)."""
    path.mkdir(parents=True, exist_ok=True)
    config = {"redis": redis_url or settings.REDIS_URL, "store_content": store_content}
    (path / "capture.json").write_text(json.dumps(config))
    return path


def corpus_copy(tmp_path: Path) -> Path:
    target = tmp_path / "projects"
    shutil.copytree(PROJECTS, target)
    return target


def corpus_lines() -> int:
    return sum(len(p.read_bytes().splitlines()) for p in PROJECTS.rglob("*.jsonl"))


def drain(redis) -> int:
    consumer = StreamConsumer(client=redis, consumer="capture-test", flush_ms=20)
    total = 0
    while handled := consumer.run_once():
        total += handled
    return total
