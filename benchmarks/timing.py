"""Timing helpers shared by the benchmarks: the median wall time of a callable, and a candidate measured
alternately with its baseline so that both see the same machine load."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


def median_ms(run: Callable[[], object], repeats: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@dataclass(frozen=True)
class Alternated:
    """Median seconds of the baseline and the candidate, and ``candidate / baseline`` of every back-to-back
    pair (a pair shares the machine's load of the moment, so the spread of these shows the noise)."""

    baseline_s: float
    candidate_s: float
    pair_ratios: list[float]


def alternate(baseline: Callable[[int], object], candidate: Callable[[int], object], repeats: int,
              warmup: int = 1) -> Alternated:
    """Run ``baseline(i)`` then ``candidate(i)`` for ``i`` in ``range(repeats)``, after ``warmup`` rounds."""
    for i in range(warmup):
        baseline(i), candidate(i)
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(repeats):
        for run, bucket in ((baseline, times[0]), (candidate, times[1])):
            start = time.perf_counter()
            run(i)
            bucket.append(time.perf_counter() - start)
    return Alternated(statistics.median(times[0]), statistics.median(times[1]),
                      [c / b for b, c in zip(*times, strict=True)])
