"""A small hand-made store holding Claude Code and Cursor side by side, for the admin's and the dashboard's
Cursor tests: derived rows as the slow path makes them (session counters set to what their rows add up
to, rollups refreshed), Cursor responses whose tokens it did not record, two conversations in one Cursor
session, and Cursor's AI-tracking rows (scored commits, one of them on two branches; AI code lines).

`mixed_store_build()` runs in a test's database, or in a whole install's through `python -c` (see
`build_in_install`), so the browser tests see the same rows as the in-process ones."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAY = datetime(2025, 10, 20, tzinfo=UTC)
SPAN = {"period": "all", "tz": "UTC"}
CLAUDE = "cc-mixed-0001"
CURSOR = "cu-mixed-0001"  # two conversations, tokens of one response not recorded
CURSOR_NO_TOKENS = "cu-mixed-0002"  # no response's tokens recorded
COMPOSERS = ("7ce42c82-1807-4e8c-b5bf-992dc9e9c616", "022bc320-2161-4022-809a-8a78909ff497")

# What the store adds up to, for the assertions.
EXPECTED = {
    "cost_usd": {"claude_code": Decimal("1.75"), "cursor": Decimal("0.25")},
    "tokens": {"claude_code": 1160, "cursor": 1200},
    "responses_without_tokens": {"cursor": 3},
    # Scored commits: c1 (on main and on a feature branch: counted once) and c2.
    "commits": 2,
    "ai_lines": 7 + 19,
    "human_lines": 57,
    "ai_share": 26 / (26 + 57),
    "code_lines_by_source": [("composer", 3), ("tab", 2)],
}


def mixed_store_build() -> dict:
    from telemetry.models import (
        AiCodeLine,
        AiCommit,
        ChangeStatus,
        Conversation,
        Project,
        SessionProgress,
        ToolStatus,
        UsageHour,
    )
    from telemetry.processing import rollups
    from tests.telemetry.processing.test_rollups import World, refresh_all

    w = World()
    shop = Project.objects.create(key="k-shop", name="shop")
    web = Project.objects.create(key="k-web", name="web")

    claude = w.session(CLAUDE, project=shop)
    w.turn(claude, DAY + timedelta(hours=1), kind="user_prompt", chars=40)
    w.turn(claude, DAY + timedelta(hours=1, minutes=1), model="claude-opus-4-1", input_tokens=100,
           output_tokens=50, cache_read_tokens=1000, cost_usd=Decimal("1.25"))  # fmt: skip
    w.turn(
        claude, DAY + timedelta(hours=2), model="claude-opus-4-1", input_tokens=10, cost_usd=Decimal("0.5")
    )
    w.tool(claude, DAY + timedelta(hours=1, minutes=2), name="Bash")
    w.change(claude, DAY + timedelta(hours=1, minutes=3), 4, 1)
    _counters(claude, DAY + timedelta(hours=1), DAY + timedelta(hours=2), ["claude-opus-4-1"], prompts=1,
              responses=2, tool_calls=1, added=4, removed=1)  # fmt: skip

    cursor = w.session(CURSOR, project=shop, platform="cursor")
    # Cursor names a conversation by its composer: this session holds two (World made one by the id).
    cursor.conversations.all().delete()
    first = Conversation.objects.create(session=cursor, conversation_id=COMPOSERS[0], title="Fix the cart",
                                        mode="agent", started_at=DAY + timedelta(hours=3), lines_added=12,
                                        lines_removed=3)  # fmt: skip
    second = Conversation.objects.create(session=cursor, conversation_id=COMPOSERS[1], mode="chat",
                                         started_at=DAY + timedelta(hours=4), archived=True)  # fmt: skip
    at = DAY + timedelta(hours=3)
    _turn(w, cursor, first, at, kind="user_prompt", chars=120)
    _turn(w, cursor, first, at + timedelta(seconds=20), model="gpt-5", input_tokens=1000, output_tokens=200,
          cost_usd=Decimal("0.25"))  # fmt: skip
    _turn(w, cursor, first, at + timedelta(minutes=1), model="gpt-5", tokens_known=False)
    _tool(w, cursor, first, at + timedelta(seconds=30), "run_terminal_cmd", ms=1200)
    _tool(w, cursor, first, at + timedelta(seconds=40), "edit_file", ms=300, status=ToolStatus.FAILURE,
          error_type="edit_failed")  # fmt: skip
    w.change(cursor, at + timedelta(seconds=41), 12, 3)
    w.change(cursor, at + timedelta(seconds=42), 2, 0, status=ChangeStatus.REJECTED)
    _turn(w, cursor, second, DAY + timedelta(hours=4), kind="user_prompt", chars=30)
    _counters(cursor, at, DAY + timedelta(hours=4), ["gpt-5"], prompts=2, responses=2, tool_calls=2,
              failures=1, added=12, removed=3, without_tokens=1)  # fmt: skip

    bare = w.session(CURSOR_NO_TOKENS, project=web, platform="cursor")
    at = DAY + timedelta(hours=5)
    w.turn(bare, at, kind="user_prompt", chars=10)
    w.turn(bare, at + timedelta(seconds=5), model="claude-4.5-sonnet", tokens_known=False)
    w.turn(bare, at + timedelta(seconds=9), model="claude-4.5-sonnet", tokens_known=False)
    _counters(bare, at, at + timedelta(seconds=9), ["claude-4.5-sonnet"], prompts=1, responses=2,
              without_tokens=2)  # fmt: skip

    for s in (claude, cursor, bare):
        SessionProgress.objects.create(platform=s.platform, session_id=s.session_id)
    refresh_all()
    # The rollup's count of responses without tokens, as the slow path's refresh keeps it (the rollup
    # refresh on main predates the field; setting it here is idempotent with one that fills it).
    for platform, hour, pid in {(t.session.platform, t.hour, t.project_id) for t in _unrecorded()}:
        n = _unrecorded().filter(session__platform=platform, hour=hour, project_id=pid).count()
        UsageHour.objects.filter(platform=platform, hour=hour, project_id=pid).update(
            responses_without_tokens=n
        )

    commits = [
        ("c1" * 20, "main", DAY + timedelta(hours=6), (40, 8, 4, 9, 25, 2, 6)),
        ("c1" * 20, "feature", DAY + timedelta(hours=7), (40, 8, 4, 9, 25, 2, 6)),
        ("c2" * 20, "main", DAY + timedelta(days=1, hours=2), (46, 10, 3, 10, 32, 1, 8)),
    ]
    for commit_hash, branch, scored, (added, deleted, tab, composer, human, blank, composer_del) in commits:
        AiCommit.objects.create(
            commit_hash=commit_hash, branch=branch, scored_at=scored, hour=rollups.hour_floor(scored),
            commit_date=scored, lines_added=added, lines_deleted=deleted, tab_lines_added=tab,
            composer_lines_added=composer, human_lines_added=human, blank_lines_added=blank,
            composer_lines_deleted=composer_del, v2_ai_percentage=Decimal("34.78"),
        )  # fmt: skip
    for i, (source, model) in enumerate((("composer", "gpt-5"),) * 3 + (("tab", ""),) * 2):
        created = DAY + timedelta(hours=3, minutes=i)
        AiCodeLine.objects.create(
            hash=f"h{i:04d}", session=cursor if source == "composer" else None, source=source, model=model,
            file_extension=".py", created_at=created, hour=rollups.hour_floor(created),
        )  # fmt: skip
    return {"shop": shop, "web": web, "claude": claude, "cursor": cursor, "bare": bare}


def _unrecorded():
    from telemetry.models import Turn

    return Turn.objects.filter(kind="assistant_response", tokens_known=False).select_related("session")


def _turn(w, s, conversation, at: datetime, kind: str = "assistant_response", **kw):
    from telemetry.models import Turn
    from telemetry.processing import rollups

    w.n += 1
    return Turn.objects.create(session=s, conversation=conversation, project=s.project, key=f"t{w.n}",
                               kind=kind, timestamp=at, hour=rollups.hour_floor(at), **kw)  # fmt: skip


def _tool(w, s, conversation, at: datetime, name: str, *, ms: int, **kw):
    from telemetry.models import ToolCall, ToolStatus
    from telemetry.processing import rollups

    w.n += 1
    return ToolCall.objects.create(
        session=s, conversation=conversation, project=s.project, tool_use_id=f"u{w.n}", tool_name=name,
        status=kw.pop("status", ToolStatus.SUCCESS), started_at=at, finished_at=at + timedelta(milliseconds=ms),
        hour=rollups.hour_floor(at), duration_ms=ms, target_hash=f"{w.n:016x}", seen_in_hooks=True, **kw,
    )  # fmt: skip


def _counters(s, first: datetime, last: datetime, models: list[str], *, prompts: int, responses: int,
              tool_calls: int = 0, failures: int = 0, added: int = 0, removed: int = 0,
              without_tokens: int = 0) -> None:  # fmt: skip
    """The session's counters, as the slow path recomputes them from its rows."""
    from django.db.models import Sum

    sums = s.turns.filter(kind="assistant_response").aggregate(
        i=Sum("input_tokens"), o=Sum("output_tokens"), cw=Sum("cache_write_tokens"),
        cr=Sum("cache_read_tokens"), c=Sum("cost_usd"),
    )  # fmt: skip
    s.started_at, s.last_event_at, s.models_used, s.status = first, last, models, "ended"
    s.prompts, s.assistant_messages, s.tool_calls, s.tool_failures = prompts, responses, tool_calls, failures
    s.input_tokens, s.output_tokens = sums["i"] or 0, sums["o"] or 0
    s.cache_write_tokens, s.cache_read_tokens, s.cost_usd = sums["cw"] or 0, sums["cr"] or 0, sums["c"] or 0
    s.lines_added, s.lines_removed, s.responses_without_tokens = added, removed, without_tokens
    s.save()


def build_in_install(env: dict[str, str]) -> None:
    """mixed_store_build() in the database of the install whose environment is `env`."""
    script = (
        "import django; django.setup(); "
        "from tests.dashboard.cursor_store import mixed_store_build; mixed_store_build()"
    )
    env = {**env, "DJANGO_SETTINGS_MODULE": "blueplane.settings", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
