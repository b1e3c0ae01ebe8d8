"""Latency histograms: fixed buckets that add up across rows, so percentiles work on any database.

A rollup row keeps counts per bucket instead of every sample. Merging rows (a week from its days,
all providers of a channel) is adding lists; a percentile is read off the cumulative counts and
interpolated inside its bucket, so it is accurate to the width of that bucket. The 2 s and 30 s
targets are bucket edges, which makes "share under 2 s / 30 s" exact.
"""

from __future__ import annotations

from collections.abc import Iterable

# Upper edges in milliseconds (a value v falls in the first bucket whose edge is > v); one more
# bucket after the last edge holds everything slower.
EDGES_MS: tuple[int, ...] = (
    100,
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    21_600_000,
    86_400_000,
)
SIZE = len(EDGES_MS) + 1


def hist_empty() -> list[int]:
    return [0] * SIZE


def bucket_of(value_ms: int) -> int:
    for i, edge in enumerate(EDGES_MS):
        if value_ms < edge:
            return i
    return SIZE - 1


def hist_merge(histograms: Iterable[list[int] | None]) -> list[int]:
    total = hist_empty()
    for hist in histograms:
        for i, count in enumerate(hist or ()):
            total[i] += count
    return total


def hist_count(hist: list[int]) -> int:
    return sum(hist)


def hist_share_under(hist: list[int], limit_ms: int) -> float | None:
    """Share of samples faster than `limit_ms`, which must be one of EDGES_MS (so it is exact)."""
    n = sum(hist)
    if not n:
        return None
    cut = EDGES_MS.index(limit_ms) + 1
    return sum(hist[:cut]) / n


def hist_percentile(hist: list[int], q: float, *, max_ms: int | None = None) -> float | None:
    """The q-quantile (0 < q <= 1) in ms, interpolated inside its bucket; None without samples."""
    n = sum(hist)
    if not n:
        return None
    rank = q * n
    seen = 0
    for i, count in enumerate(hist):
        if count and seen + count >= rank:
            low = EDGES_MS[i - 1] if i else 0
            # The open last bucket ends at the slowest sample seen (or twice its lower edge).
            high = EDGES_MS[i] if i < len(EDGES_MS) else (max_ms or low * 2)
            if max_ms is not None:
                high = min(high, max(max_ms, low))
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(max_ms or EDGES_MS[-1])
