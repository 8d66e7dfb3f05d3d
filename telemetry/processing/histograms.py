"""Tool latency histograms over fixed log-spaced buckets: the percentiles of any span come from summing
the histograms of its hours (docs/metrics.md)."""

import math
from bisect import bisect_left
from collections.abc import Iterable

# Ten buckets per decade from 1 ms to 10^6 ms (16.7 min): bucket 0 holds d <= 1 ms, bucket i (1..60)
# holds 10^((i-1)/10) < d <= 10^(i/10) ms, bucket 61 everything longer. Each bucket spans a factor of
# 1.26, so a percentile read back as the bucket's geometric middle is within 12% of the true value.
LATENCY_BOUNDS_MS: tuple[float, ...] = tuple(10 ** (i / 10) for i in range(61))
LATENCY_BUCKETS = len(LATENCY_BOUNDS_MS) + 1


def latency_bucket(duration_ms: float) -> int:
    """Index of the histogram bucket a duration falls in."""
    return bisect_left(LATENCY_BOUNDS_MS, duration_ms)


def histogram_of(durations_ms: Iterable[float]) -> list[int]:
    """Counts per bucket, trailing empty buckets left out (an empty list when there are none)."""
    counts = [0] * LATENCY_BUCKETS
    for d in durations_ms:
        counts[latency_bucket(d)] += 1
    return histogram_trim(counts)


def histogram_trim(counts: list[int]) -> list[int]:
    end = len(counts)
    while end and not counts[end - 1]:
        end -= 1
    return counts[:end]


def histogram_add(total: list[int], other: Iterable[int]) -> list[int]:
    """Add a histogram into `total` (in place; lengths may differ). Returns total."""
    for i, n in enumerate(other):
        if i < len(total):
            total[i] += n
        else:
            total.append(n)
    return total


def histogram_percentile(counts: list[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) in ms, as the geometric middle of the bucket holding it; None if
    empty. The last bucket is open-ended: its lower bound (10^6 ms) is returned."""
    n = sum(counts)
    if not n:
        return None
    rank = max(1, math.ceil(q * n))
    seen = 0
    for i, c in enumerate(counts):
        seen += c
        if seen >= rank:
            if i == 0:
                return 1.0
            if i >= len(LATENCY_BOUNDS_MS):
                return LATENCY_BOUNDS_MS[-1]
            return math.sqrt(LATENCY_BOUNDS_MS[i - 1] * LATENCY_BOUNDS_MS[i])
    return None  # unreachable: seen ends at n >= rank
