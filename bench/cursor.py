"""Cursor database monitor cost on a large history: a global state.vscdb (WAL mode, as Cursor runs it)
with 100,000 bubbles in 1,000 composers plus noise rows, one workspace listing them, in a temp dir.

    .venv/bin/python bench/cursor.py [--bubbles N] [--composers N] [--idle-s S]

Measures, with the real monitor (cursor_monitor.CursorMonitor, its SQLite state file) and events
counted instead of sent to Redis (XADD cost is the tailer's and the fast path's to measure):
- the first poll (a full read, what `blueplane import cursor` does);
- a poll with nothing new (Cursor's files untouched): target <= 50 ms;
- a poll after Cursor wrote something the monitor does not read (a checkpoint row): files changed,
  nothing to send;
- a poll after 100 new bubbles (10 composers, 10 each, headers updated as Cursor does);
- the first poll of a restarted monitor (same state file, nothing new);
- CPU share at idle: process CPU time over --idle-s seconds of polling every BLUEPLANE_CURSOR_POLL_S
  (2 s by default).
Prints figures; the last line is one JSON object.
"""

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telemetry.capture.cursor_monitor import CursorMonitor  # noqa: E402
from telemetry.capture.cursor_state import CursorState  # noqa: E402
from telemetry.capture.privacy import Privacy  # noqa: E402

DDL = ("CREATE TABLE ItemTable (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)",
       "CREATE TABLE cursorDiskKV (key TEXT UNIQUE ON CONFLICT REPLACE, value BLOB)")  # fmt: skip
START_MS = 1_762_000_000_000
TEXT = "The consumer acknowledged entries before the insert committed; I moved the ack after it. " * 4


def bubble(bubble_id: str, role: int, n: int, request_id: str) -> dict:
    created = START_MS + n * 1000
    body = {
        "_v": 3, "type": role, "bubbleId": bubble_id, "requestId": request_id, "text": TEXT,
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created / 1000)),
        "tokenCount": {"inputTokens": 1000 + n % 500, "outputTokens": 100},
        "richText": json.dumps({"root": {"children": [{"text": TEXT}]}}) if role == 1 else "",
    }  # fmt: skip
    if role == 1:
        body["modelInfo"] = {"modelName": "gpt-5"}
    elif n % 3 == 0:
        body["text"] = ""
        body["toolFormerData"] = {
            "tool": 15, "toolCallId": f"toolu_{bubble_id[:12]}", "name": "run_terminal_cmd", "status": "completed",
            "params": json.dumps({"command": f"pytest -q tests/test_{n % 50}.py"}), "result": '{"exitCode":0}',
        }  # fmt: skip
    return body


def composer(composer_id: str, headers: list[dict], n: int) -> dict:
    return {
        "_v": 10, "composerId": composer_id, "name": f"Task {n}", "createdAt": START_MS + n,
        "lastUpdatedAt": START_MS + n + 10**6, "status": "completed", "fullConversationHeadersOnly": headers,
        "modelConfig": {"modelName": "gpt-5", "maxMode": False}, "totalLinesAdded": n % 40,
        "totalLinesRemoved": n % 7, "unifiedMode": "agent", "isArchived": False,
    }  # fmt: skip


def build(home: Path, *, composers: int, bubbles: int) -> tuple[sqlite3.Connection, list[str]]:
    """The fake Cursor home; returns Cursor's own (read-write, kept open) connection and composer ids."""
    user = home / ".config" / "Cursor" / "User"
    (user / "globalStorage").mkdir(parents=True)
    conn = sqlite3.connect(user / "globalStorage" / "state.vscdb")
    conn.execute("PRAGMA journal_mode=WAL")
    for ddl in DDL:
        conn.execute(ddl)
    ids, rows, n = [], [], 0
    per = bubbles // composers
    for c in range(composers):
        cid = str(uuid.UUID(int=random.getrandbits(128)))
        ids.append(cid)
        headers = []
        for b in range(per):
            bid = str(uuid.UUID(int=random.getrandbits(128)))
            role = 1 if b % 4 == 0 else 2
            headers.append({"bubbleId": bid, "type": role})
            rows.append(
                (f"bubbleId:{cid}:{bid}", json.dumps(bubble(bid, role, n, f"req-{c}-{b // 4}")).encode())
            )
            n += 1
            if b % 10 == 0:  # the noise families every real database has
                rows.append((f"checkpointId:{cid}:{bid}", b'{"files":[]}'))
        rows.append((f"composerData:{cid}", json.dumps(composer(cid, headers, c))))
        if len(rows) > 5000:
            conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", rows)
            rows = []
    conn.executemany("INSERT INTO cursorDiskKV VALUES (?, ?)", rows)
    conn.execute("INSERT INTO ItemTable VALUES ('cursorAuth/accessToken', 'secret')")
    conn.commit()
    workspace = user / "workspaceStorage" / ("ab" * 16)
    workspace.mkdir(parents=True)
    (workspace / "workspace.json").write_text(json.dumps({"folder": "file:///home/dev/projects/big"}))
    heads = [
        {"type": "head", "composerId": cid, "createdAt": START_MS, "lastUpdatedAt": START_MS} for cid in ids
    ]
    with sqlite3.connect(workspace / "state.vscdb") as ws:
        ws.execute(DDL[0])
        ws.execute(
            "INSERT INTO ItemTable VALUES ('composer.composerData', ?)",
            (json.dumps({"allComposers": heads}),),
        )
    ws.close()
    return conn, ids


def append_bubbles(conn: sqlite3.Connection, ids: list[str], *, total: int, composers: int) -> None:
    """`total` new bubbles spread over `composers` composers, each composer's headers updated."""
    for c in ids[:composers]:
        key = f"composerData:{c}"
        data = json.loads(conn.execute("SELECT value FROM cursorDiskKV WHERE key = ?", (key,)).fetchone()[0])
        for i in range(total // composers):
            bid = str(uuid.uuid4())
            body = bubble(bid, 2, 200_000 + i, "req-new")
            conn.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"bubbleId:{c}:{bid}", json.dumps(body)))
            data["fullConversationHeadersOnly"].append({"bubbleId": bid, "type": 2})
        data["lastUpdatedAt"] += 1000
        conn.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (key, json.dumps(data)))
    conn.commit()


def timed(monitor: CursorMonitor) -> tuple[float, int]:
    start = time.perf_counter()
    sent = monitor.poll()
    return (time.perf_counter() - start) * 1000, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bubbles", type=int, default=100_000)
    parser.add_argument("--composers", type=int, default=1_000)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--poll-s", type=float, default=float(os.environ.get("BLUEPLANE_CURSOR_POLL_S", 2)))
    args = parser.parse_args()
    random.seed(1)
    with tempfile.TemporaryDirectory(prefix="bench-cursor-") as tmp:
        home = Path(tmp) / "home"
        t0 = time.perf_counter()
        cursor, ids = build(home, composers=args.composers, bubbles=args.bubbles)
        db = home / ".config/Cursor/User/globalStorage/state.vscdb"
        print(f"built {args.bubbles} bubbles in {args.composers} composers in {time.perf_counter() - t0:.1f} s "
              f"({db.stat().st_size / 1e6:.0f} MB + WAL {Path(str(db) + '-wal').stat().st_size / 1e6:.0f} MB)")  # fmt: skip
        state_path = str(Path(tmp) / "state.sqlite3")
        sent_total = [0]

        def send(envelopes: list[bytes]) -> None:
            sent_total[0] += len(envelopes)

        def monitor() -> CursorMonitor:
            return CursorMonitor(
                home=str(home), privacy=Privacy(b"bench"), send=send, state=CursorState(state_path)
            )

        m = monitor()
        full_ms, full_sent = timed(m)
        print(f"first poll (full read): {full_ms:.0f} ms, {full_sent} events")
        idle = [timed(m)[0] for _ in range(50)]
        idle_ms = statistics.median(idle)
        print(f"poll, nothing new: median {idle_ms:.3f} ms, max {max(idle):.3f} ms (target <= 50 ms)")
        touched = []
        for i in range(10):
            cursor.execute("INSERT INTO cursorDiskKV VALUES (?, ?)", (f"checkpointId:x:{i}", b"{}"))
            cursor.commit()
            ms, sent = timed(m)
            assert sent == 0, sent
            touched.append(ms)
        touched_ms = statistics.median(touched)
        print(f"poll after Cursor wrote a row we do not read: median {touched_ms:.1f} ms, 0 events")
        append_bubbles(cursor, ids, total=100, composers=10)
        new_ms, new_sent = timed(m)
        print(
            f"poll after 100 new bubbles in 10 composers: {new_ms:.1f} ms, {new_sent} events (100 bubbles + 10 composers)"
        )
        restart_ms, restart_sent = timed(monitor())
        print(f"first poll after a restart, nothing new: {restart_ms:.0f} ms, {restart_sent} events")
        cpu0, wall0, polls = time.process_time(), time.monotonic(), 0
        while time.monotonic() - wall0 < args.idle_s:
            m.poll()
            polls += 1
            time.sleep(args.poll_s)
        cpu_share = (time.process_time() - cpu0) / (time.monotonic() - wall0)
        print(
            f"idle: {polls} polls in {args.idle_s:.0f} s every {args.poll_s} s: CPU {cpu_share * 100:.3f} % of one core"
        )
        cursor.close()
    print(json.dumps({
        "bubbles": args.bubbles, "composers": args.composers, "first_poll_ms": round(full_ms),
        "first_poll_events": full_sent, "idle_poll_ms": round(idle_ms, 3), "target_idle_poll_ms": 50,
        "written_nothing_new_poll_ms": round(touched_ms, 1), "new_100_bubbles_poll_ms": round(new_ms, 1),
        "new_100_bubbles_events": new_sent, "restart_poll_ms": round(restart_ms), "restart_events": restart_sent,
        "idle_cpu_percent": round(cpu_share * 100, 3), "poll_s": args.poll_s,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
