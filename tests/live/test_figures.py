"""The shared figures computations (api/live/figures.py): one per page, filters and change for every
connection of the process, changes coalesced while one runs, the pipeline page on a timer. The page's
figures are a counting function here; the hub's threads and tasks are real."""

import asyncio
import json
import threading

from api.live import figures
from api.live.feed import metrics_request_parse
from api.live.figures import FiguresHub

OVERVIEW = metrics_request_parse({"page": "overview", "period": "30d"})


class Counting:
    """figures() that counts its calls and can be held (a long query) until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()

    def __call__(self, request) -> dict:
        self.calls += 1
        self.release.wait(30)
        return {"n": self.calls}


async def until(condition, what: str) -> None:
    for _ in range(3000):  # a bound on a hang, not a timing
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_two_hundred_connections_on_one_page_cost_one_computation_per_change():
    compute = Counting()

    async def scenario():
        hub = FiguresHub(compute)
        inboxes = [[] for _ in range(200)]
        for inbox in inboxes:
            hub.subscribe(OVERVIEW, inbox.append)
        same = metrics_request_parse({"period": "30d", "page": "overview"})  # another connection's parse
        for _ in inboxes:  # every connection hears the same relayed change
            hub.changed(same, "1-0", {"sessions": []})
        await until(lambda: all(inboxes), "every connection got the figures")
        return inboxes

    inboxes = asyncio.run(scenario())
    assert compute.calls == 1
    assert all(inbox == inboxes[0] for inbox in inboxes) and len(inboxes[0]) == 1
    message = json.loads(inboxes[0][0])
    assert message == {
        "type": "figures",
        "page": "overview",
        "figures": {"n": 1},
        "changed": {"sessions": []},
    }


def test_changes_during_a_computation_coalesce_into_one_more_run():
    compute = Counting()

    async def scenario():
        hub = FiguresHub(compute)
        inbox: list[str] = []
        hub.subscribe(OVERVIEW, inbox.append)
        compute.release.clear()
        hub.changed(OVERVIEW, "1-0", {})
        await until(lambda: compute.calls == 1, "the first run started")
        for n in range(2, 6):
            hub.changed(OVERVIEW, f"{n}-0", {})  # four more while it runs
        snapshot = asyncio.ensure_future(hub.snapshot(OVERVIEW))  # joins the run in flight
        compute.release.set()
        first = await snapshot
        await until(lambda: len(inbox) == 2, "the follow-up run delivered")
        return first, inbox

    first, inbox = asyncio.run(scenario())
    assert first == {"n": 1}  # the snapshot shared the computation in flight
    assert compute.calls == 2  # one run, then ONE more for the four changes that came meanwhile
    assert [json.loads(m)["figures"]["n"] for m in inbox] == [1, 2]


def test_a_change_heard_late_by_one_connection_is_not_computed_again():
    compute = Counting()

    async def scenario():
        hub = FiguresHub(compute)
        inbox: list[str] = []
        hub.subscribe(OVERVIEW, inbox.append)
        topic = hub.topics[OVERVIEW.key]
        for n, change in enumerate(["1-0", "2-0", "1-0", "3-0"], start=1):  # "1-0" again: a slow listener
            hub.changed(OVERVIEW, change, {})
            await until(lambda: topic.runner is None, f"change {n} done")
        return inbox

    inbox = asyncio.run(scenario())
    assert compute.calls == 3 and len(inbox) == 3


def test_a_change_for_another_session_does_not_recompute_a_session_page():
    compute = Counting()
    page = metrics_request_parse({"page": "session", "session": "s1"})

    async def scenario():
        hub = FiguresHub(compute)
        inbox: list[str] = []
        hub.subscribe(page, inbox.append)
        hub.changed(page, "1-0", {"sessions": [["claude_code", "s2"]]})
        hub.changed(page, "2-0", {"sessions": [["claude_code", "s1"]]})
        await until(lambda: inbox, "figures for its own session")
        return inbox

    assert len(asyncio.run(scenario())) == 1 and compute.calls == 1


def test_the_pipeline_page_is_pushed_on_a_timer(monkeypatch):
    monkeypatch.setattr(figures, "PIPELINE_EVERY_S", 0.01)
    compute = Counting()
    pipeline = metrics_request_parse({"page": "pipeline"})

    async def scenario():
        hub = FiguresHub(compute)
        inbox: list[str] = []
        hub.subscribe(pipeline, inbox.append)
        await until(lambda: len(inbox) >= 2, "two timed pushes")  # no change was relayed
        hub.unsubscribe(pipeline, inbox.append)
        return inbox, hub

    inbox, hub = asyncio.run(scenario())
    assert json.loads(inbox[0])["changed"] == {"timer": True}
    assert not hub.topics  # the last connection gone: the topic and its timer with it


def test_a_failing_computation_is_logged_and_the_next_change_tries_again(caplog):
    calls = []

    def flaky(request):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return {"ok": True}

    async def scenario():
        hub = FiguresHub(flaky)
        inbox: list[str] = []
        hub.subscribe(OVERVIEW, inbox.append)
        hub.changed(OVERVIEW, "1-0", {})
        await until(lambda: calls, "the first try")
        await until(lambda: hub.topics[OVERVIEW.key].runner is None, "the first run ended")
        hub.changed(OVERVIEW, "2-0", {})
        await until(lambda: inbox, "figures after the second change")
        return inbox

    assert json.loads(asyncio.run(scenario())[0])["figures"] == {"ok": True}
    assert "could not be computed" in caplog.text
