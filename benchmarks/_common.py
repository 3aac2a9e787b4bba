"""Helpers shared by the benchmarks: the shared data location and median timing."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FER_ZIP = SHARED / "datasets" / "fer2013" / "fer2013-train-publictest.zip"
CLIP = SHARED / "media" / "test.mp4"


def median_seconds(fn, repeats: int = 3) -> float:
    """Median wall time of `repeats` calls of fn()."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)
