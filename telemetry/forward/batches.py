"""Batches to post and the cursor that says what the server has. Pure, but for the cursor's file.

A batch holds one platform's events in seq order, at most MAX_EVENTS of them and MAX_BYTES of body
(the server refuses more: BLUEPLANE_API_INGEST_MAX_EVENTS, _MB). The cursor, per platform the seq of
the last event the server answered 2xx for, moves only after that answer, and is written durably
(fsync, then rename): a forwarder killed at any moment sends again at most the batch it was posting,
which the server stores once (event ids).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from .team import file_write_private, forward_dir

MAX_EVENTS = 1000
MAX_BYTES = 4 * 1024 * 1024


@dataclass
class Batch:
    platform: str
    seqs: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)  # each envelope's JSON
    size: int = 2  # the enclosing []
    through: int = 0  # the seq the cursor moves to once the server took the batch (set-aside ones too)

    def body(self) -> bytes:
        return b"[" + b",".join(self.bodies) + b"]"

    def drop(self, index: int) -> tuple[int, bytes]:
        """Take one envelope out (the server refused it): (its seq, its body)."""
        seq, body = self.seqs.pop(index), self.bodies.pop(index)
        self.size -= len(body) + 1
        return seq, body


def batch_build(
    platform: str,
    events: list[tuple[int, bytes]],
    *,
    max_events: int = MAX_EVENTS,
    max_bytes: int = MAX_BYTES,
) -> Batch:
    """The longest prefix of events (seq, envelope JSON) that fits a batch; at least one event, so a
    single event over max_bytes is still sent (the server refuses it by index and it is set aside)."""
    batch = Batch(platform)
    for seq, body in events[:max_events]:
        if batch.bodies and batch.size + len(body) + 1 > max_bytes:
            break
        batch.seqs.append(seq)
        batch.bodies.append(body)
        batch.size += len(body) + 1
    batch.through = batch.seqs[-1] if batch.seqs else 0
    return batch


def cursor_path(home: Path) -> Path:
    return forward_dir(home) / "cursor.json"


def cursor_read(home: Path, url: str) -> dict[str, int]:
    """Per platform, the last seq the server at url took. Another server's cursor does not count: a
    machine connected to a new server sends it everything."""
    try:
        data = json.loads(cursor_path(home).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("url") != url or not isinstance(data.get("seqs"), dict):
        return {}
    return {k: int(v) for k, v in data["seqs"].items() if isinstance(v, int)}


def cursor_write(home: Path, url: str, seqs: dict[str, int]) -> None:
    file_write_private(cursor_path(home), json.dumps({"url": url, "seqs": seqs}).encode())
