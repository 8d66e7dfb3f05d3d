"""Events per second through the fast path, recently: from its cumulative counters (wire.FASTPATH_METRICS,
read by selectors.metrics.fastpath_counters), sampled each time someone asks.

The counters only ever grow, so a rate needs two readings apart in time. The fast path keeps no rate of
its own (its publish script stays a few HINCRBYs per batch) and a selector writes nothing, so the readings
are kept here, in the asking process: the web server asks every second or two while a pipeline page is
open (the live feed pushes that page's figures on a timer), so from the second asking on the rate over
the last RATE_WINDOW_S is known. The first asking in a process knows no rate (None): say "measuring".
A counter that went down (Redis emptied or replaced) starts the readings afresh.
"""

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TypedDict

import redis

from ..connections import redis_client_quick
from .metrics import fastpath_counters

RATE_WINDOW_S = 60.0  # the rate shown: events committed over (up to) the last minute of readings
HISTORY_S = 600.0  # the series a chart draws: the last ten minutes
SERIES_STEP_S = 5.0  # one point of the series per this many seconds at most (readings come every 1-2 s)
SPACING_S = 1.0  # a reading closer than this to the previous one replaces it (many pages asking at once)


@dataclass(frozen=True)
class Reading:
    at: float  # epoch seconds
    events: int  # events the fast path committed, all time


class RatePoint(TypedDict):
    at: float  # epoch seconds: the end of the step
    events_per_s: float


class Throughput(TypedDict):
    events_per_s: float | None  # over the last window_s seconds; None: one reading so far
    window_s: float | None  # how many seconds that rate spans (less than RATE_WINDOW_S after a start)
    events_total: int  # committed since the counters were first written (repeats after a fault included)
    series: list[RatePoint]  # events/s per step over the last HISTORY_S, oldest first


class SourceCount(TypedDict):
    platform: str
    source: str
    events: int


class FastPathRecent(TypedDict):
    throughput: Throughput
    inserted: int  # events new to the store, all time (the rest were repeats: re-reads, replays)
    batches: int
    batch_latency_mean_s: float | None  # read to commit, mean over all batches
    by_source: list[SourceCount]  # events committed per platform and source, all time, most first


def readings_add(readings: deque[Reading], reading: Reading) -> None:
    """Append `reading`, keeping the readings one per SPACING_S and within HISTORY_S of it; a counter
    lower than the last one (a new Redis) drops the old readings."""
    if readings and reading.events < readings[-1].events:
        readings.clear()
    if len(readings) >= 2 and reading.at - readings[-2].at < SPACING_S:
        readings.pop()  # keep the older neighbour, so the spacing holds and the newest value wins
    readings.append(reading)
    while readings and reading.at - readings[0].at > HISTORY_S:
        readings.popleft()


def throughput_of(readings: deque[Reading] | list[Reading]) -> Throughput:
    """The rate over the last RATE_WINDOW_S of readings (oldest first) and the series over all of them."""
    if not readings:
        return Throughput(events_per_s=None, window_s=None, events_total=0, series=[])
    newest = readings[-1]
    start = next((r for r in readings if newest.at - r.at <= RATE_WINDOW_S), newest)
    span = newest.at - start.at
    # Two readings a moment apart would make a wild rate out of one batch: wait for a second's span.
    rate = (newest.events - start.events) / span if span >= SPACING_S else None
    series: list[RatePoint] = []
    last = readings[0]
    for reading in readings:
        step = reading.at - last.at
        if step >= SERIES_STEP_S:
            series.append(RatePoint(at=reading.at, events_per_s=(reading.events - last.events) / step))
            last = reading
    return Throughput(
        events_per_s=rate,
        window_s=span if rate is not None else None,
        events_total=newest.events,
        series=series,
    )


_readings: deque[Reading] = deque()
_lock = threading.Lock()  # figures are computed in worker threads (sync_to_async) as well as in views


def fastpath_recent(client: redis.Redis | None = None) -> FastPathRecent:
    """Read the fast path's counters now, keep the reading, and return the recent rate (see the module's
    docstring for why the first asking has none) with the all-time counts. Raises what Redis raises."""
    counters = fastpath_counters(client or redis_client_quick())
    reading = Reading(at=time.time(), events=sum(counters["events"].values()))
    with _lock:
        readings_add(_readings, reading)
        throughput = throughput_of(_readings)
    by_source = [SourceCount(platform=p, source=s, events=n) for (p, s), n in counters["events"].items()]
    batches = counters["batches"]
    return FastPathRecent(
        throughput=throughput,
        inserted=counters["inserted"],
        batches=batches,
        batch_latency_mean_s=counters["latency_sum_s"] / batches if batches else None,
        by_source=sorted(by_source, key=lambda c: (-c["events"], c["platform"], c["source"])),
    )
