"""Shifted copies of a Claude Code projects tree: copy k has every time moved k whole days and every
session id, uuid, message and request id made its own, so Blueplane and ccusage alike count each copy
as distinct sessions and messages (for tests that need more than one day, and bench/report.py)."""

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_API_ID = re.compile(r"\b(msg|req|toolu)_[0-9A-Za-z]+")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")


def _copy_text(text: str, k: int, step_days: int) -> str:
    # A uuid keeps its shape: its first four digits become the copy's number.
    text = _UUID.sub(lambda m: f"{k:04x}{m[0][4:]}", text)
    text = _API_ID.sub(lambda m: f"{m[0]}c{k}", text)
    if k == 0:
        return text
    shift = timedelta(days=k * step_days)

    def later(m: re.Match) -> str:
        moment = datetime.fromisoformat(m[0].replace("Z", "+00:00")) + shift
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return _INSTANT.sub(later, text)


def corpus_copies(
    source: Path,
    dest: Path,
    copies: int,
    *,
    step_days: int = 1,
    only: Callable[[int, Path], bool] | None = None,
) -> int:
    """Write `copies` shifted copies of the projects tree `source` into `dest` (a projects tree too: the
    same project folders, more sessions in each), copy k moved k * step_days days (negative: earlier).
    `only(k, path)` (path relative to source) leaves files out of copy k, so copies can differ. Returns
    the bytes written."""
    written = 0
    files = [p for p in sorted(source.rglob("*")) if p.is_file()]
    for k in range(copies):
        for path in files:
            if only is not None and not only(k, path.relative_to(source)):
                continue
            target = dest / _UUID.sub(lambda m, k=k: f"{k:04x}{m[0][4:]}", str(path.relative_to(source)))
            target.parent.mkdir(parents=True, exist_ok=True)
            written += target.write_bytes(_copy_text(path.read_text(), k, step_days).encode())
    return written


def envelopes_copies(envelopes: list[bytes], copies: int, *, step_days: int = 1) -> list[bytes]:
    """`copies` shifted copies of wire-format envelopes (bench/events.py's fixture_envelopes), each its
    own sessions and events, interleaved (the i-th envelope of every copy, then the next), so that the
    copies' sessions run side by side as a team's would."""
    out = []
    shifted = [
        [_copy_text(e.decode(), k, step_days).replace('"cc:h:', f'"cc:h{k}:').encode() for e in envelopes]
        for k in range(copies)
    ]
    for i in range(len(envelopes)):
        out.extend(copy[i] for copy in shifted)
    return out
