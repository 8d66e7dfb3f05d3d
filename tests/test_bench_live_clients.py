"""bench/live_clients.py, on made-up messages: which pushed event is which hook, which figure counts the
hooks, and when a push first counted each."""

from bench.live_clients import BenchSession, Client, Watch, counting_figure, event_latencies, figure_latencies


def session(sid: str, fired: list[tuple[str, float]], warm: int = 1) -> BenchSession:
    return BenchSession(session_id=sid, cwd="/w", fired=[("SessionStart", 0.0), *fired], warm=warm)


def client(*messages: tuple[float, dict]) -> Client:
    c = Client("ws://x")
    c.received = list(messages)
    c.wall = [t for t, _ in messages]
    return c


def event(sid: str, n: int) -> dict:
    return {"event_id": f"{sid}-{n}", "session_id": sid, "timestamp": f"2026-12-06T20:00:{n:02d}+00:00"}


def test_events_match_hooks_in_timestamp_order_once_each():
    s = session("a", [("UserPromptSubmit", 10.0), ("PreToolUse", 10.2), ("PostToolUse", 12.0)])
    got = client(
        (9.0, {"type": "snapshot", "events": [event("a", 0)]}),  # the warm-up: not measured
        (10.5, {"type": "events", "events": [event("a", 2), event("a", 1)]}),  # out of order in one push
        (12.5, {"type": "snapshot", "events": [event("a", 1), event("a", 2), event("a", 3)]}),  # fell behind
        (13.0, {"type": "events", "events": [event("a", 3)]}),  # again after the snapshot
    )
    latencies, missing = event_latencies(got, [s])
    assert missing == 0
    assert [round(x) for x in latencies] == [500, 300, 500]  # events 1, 2 at 10.5; event 3 at 12.5


def test_an_event_never_pushed_is_missing():
    s = session("a", [("UserPromptSubmit", 10.0), ("PreToolUse", 11.0)])
    got = client(
        (9.0, {"type": "snapshot", "events": []}), (10.2, {"type": "events", "events": [event("a", 1)]})
    )
    assert event_latencies(got, [s])[1] == 1


def figures(t: float, prompts: int, tools: int, kind: str = "figures") -> tuple[float, dict]:
    return t, {"type": kind, "figures": {"session": {"prompts": prompts, "tool_calls": tools, "id": "a"}}}


def test_the_figure_counting_prompts_is_found_and_timed_from_each_prompt():
    s = session("a", [("UserPromptSubmit", 10.0), ("PreToolUse", 10.2), ("UserPromptSubmit", 11.0)])
    w = Watch(
        "session", client(figures(9.0, 0, 0, "snapshot"), figures(10.4, 1, 1), figures(11.3, 2, 1)), [s]
    )
    assert counting_figure([w], None) == ("session.prompts", "UserPromptSubmit")
    latencies, complete = figure_latencies(w, "session.prompts", "UserPromptSubmit")
    assert complete and [round(x) for x in latencies] == [400, 300]


def test_no_figure_is_taken_that_does_not_count_every_hook_of_its_kind():
    s = session("a", [("UserPromptSubmit", 10.0), ("UserPromptSubmit", 11.0)])
    w = Watch("session", client(figures(9.0, 0, 0, "snapshot"), figures(10.4, 1, 0)), [s])
    assert counting_figure([w], None) is None  # the second prompt never showed
    assert figure_latencies(w, "session.prompts", "UserPromptSubmit")[1] is False
